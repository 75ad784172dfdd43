import { auditV1 } from '@airlock/contracts';
import type { Bus, Signer } from '@airlock/runtime';

/** `audit.v1.keys`: the public keys that verify the log's signed checkpoints. */
export function serveKeys(bus: Bus, signer: Signer): void {
  bus.serve(auditV1.keys, async () => signer.jwks());
}
