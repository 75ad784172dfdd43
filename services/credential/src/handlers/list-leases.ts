import { credentialV1 } from '@airlock/contracts';
import type { CredentialParts } from '../parts.js';

/**
 * `credential.v1.list-leases`: the live leases without any secret, for the console. The lease table stays this
 * service's own: no other service reads it (deploy/nats lets only the console's user call this subject).
 */
export function serveListLeases(parts: CredentialParts): void {
  parts.bus.serve(credentialV1.listLeases, async () => ({ leases: await parts.store.live() }));
}
