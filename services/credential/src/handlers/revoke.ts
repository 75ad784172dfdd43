import { credentialV1 } from '@airlock/contracts';
import type { CredentialParts } from '../parts.js';

/** `credential.v1.revoke`: ends a lease now (the proxy at session end, the console on an operator's click). */
export function serveRevoke(parts: CredentialParts): void {
  parts.bus.serve(credentialV1.revokeLease, async (req, ctx) => {
    await parts.store.markReason(req.leaseId, req.reason);
    const state = await parts.revoke(req.leaseId, req.reason, ctx);
    return { leaseId: req.leaseId, state };
  });
}
