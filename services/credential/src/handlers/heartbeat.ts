import { credentialV1 } from '@airlock/contracts';
import type { CredentialParts } from '../parts.js';

/** `credential.v1.heartbeat`: a proxy renews the leases it holds; the others are reported unknown. */
export function serveHeartbeat(parts: CredentialParts): void {
  parts.bus.serve(credentialV1.heartbeat, async (req) => {
    const renewed = await parts.store.heartbeat(req.holder, req.leaseIds);
    const set = new Set(renewed);
    return { renewed, unknown: req.leaseIds.filter((id) => !set.has(id)) };
  });
}
