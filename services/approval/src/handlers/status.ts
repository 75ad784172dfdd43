import { approvalV1 } from '@airlock/contracts';
import type { Bus } from '@airlock/runtime';
import type { Approvals } from '../approvals.js';

/** `approval.v1.status`: where a held statement stands, for the caller that submitted it. */
export function serveStatus(bus: Bus, approvals: Approvals): void {
  bus.serve(approvalV1.getApprovalStatus, async (req) => approvals.status(req.approvalId, req.caller));
}
