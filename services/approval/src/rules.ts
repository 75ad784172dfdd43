import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';

export interface DecidableRequest {
  subject: string;
  issuer: string;
  approverGroups: readonly string[];
}

/** Who may see a request: its own requester, and anyone in one of its approver groups. */
export function canView(request: DecidableRequest, caller: Principal): boolean {
  return isRequester(request, caller) || caller.groups.some((g) => request.approverGroups.includes(g));
}

export function isRequester(request: DecidableRequest, caller: Principal): boolean {
  return request.subject === caller.subject && request.issuer === caller.issuer;
}

/** Separation of duties first (nobody decides their own request), then membership of an approver group. */
export function assertMayDecide(request: DecidableRequest, approver: Principal): void {
  if (isRequester(request, approver)) {
    throw new AirlockError('approval.self_approval', 'nobody may approve or deny their own request; ask another approver');
  }
  if (!approver.groups.some((g) => request.approverGroups.includes(g))) {
    throw new AirlockError(
      'approval.not_approver',
      `deciding this request needs membership of one of the groups: ${request.approverGroups.join(', ')}`,
      { approverGroups: [...request.approverGroups] },
    );
  }
}

/** A denial must say why, so the agent and the requester can act on it. */
export function denialReason(reason: string | undefined): string {
  const trimmed = reason?.trim() ?? '';
  if (trimmed === '') throw new AirlockError('approval.reason_required', 'a denial needs a reason: send {"reason": "…"} or use --reason');
  return trimmed;
}
