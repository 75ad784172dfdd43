import { approvalV1 } from '@airlock/contracts';
import type { Bus, Signer } from '@airlock/runtime';

/** `approval.v1.keys`: the public keys that verify the grants this service signs. */
export function serveKeys(bus: Bus, signer: Signer): void {
  bus.serve(approvalV1.keys, async () => signer.jwks());
}
