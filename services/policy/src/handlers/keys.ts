import { policyV1 } from '@airlock/contracts';
import type { Bus, Signer } from '@airlock/runtime';

/** `policy.v1.keys`: the public keys that verify the decisions this service signs. */
export function serveKeys(bus: Bus, signer: Signer): void {
  bus.serve(policyV1.keys, async () => signer.jwks());
}
