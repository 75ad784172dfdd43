import { Type, type Static } from '@sinclair/typebox';
import { Jwks, KeysRequest, Principal, StatementKind } from '../common.js';
import { event, request } from '../descriptor.js';
import { eventBase } from '../event-base.js';

export const ApprovalState = Type.Union([
  Type.Literal('pending'),
  Type.Literal('granted'),
  Type.Literal('denied'),
  Type.Literal('expired'),
  Type.Literal('cancelled'),
]);
export type ApprovalState = Static<typeof ApprovalState>;

/** `one-shot`: the exact statement, once, within a short window; `window`: statements of one scope for a bounded time. */
export const GrantKind = Type.Union([Type.Literal('one-shot'), Type.Literal('window')]);
export type GrantKind = Static<typeof GrantKind>;

export const SubmitApprovalRequest = Type.Object(
  {
    requestId: Type.String(),
    sessionId: Type.String(),
    principal: Principal,
    connection: Type.String(),
    sql: Type.String({ description: 'normalised statement text' }),
    fingerprint: Type.String(),
    kind: StatementKind,
    tables: Type.Array(Type.String({ description: 'schema.table' })),
    rule: Type.Union([Type.String(), Type.Null()]),
    approverGroups: Type.Array(Type.String(), { minItems: 1 }),
    quorum: Type.Integer({ minimum: 1 }),
    justification: Type.Optional(Type.String({ maxLength: 2000 })),
    /**
     * The policy decision's signed token. Approvers, quorum, principal and statement are taken from it; a submit
     * without one, or one whose fields differ from it, is refused.
     */
    decision: Type.Optional(Type.String()),
    /** the statement's bind-parameter values, shown to approvers; their digest must match the signed decision */
    params: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Null()]), { maxItems: 1000 })),
  },
  { additionalProperties: false },
);
export type SubmitApprovalRequest = Static<typeof SubmitApprovalRequest>;

export const ApprovalStatus = Type.Object(
  {
    approvalId: Type.String(),
    state: ApprovalState,
    expiresAt: Type.String({ format: 'date-time' }),
    approvals: Type.Integer({ minimum: 0 }),
    quorum: Type.Integer({ minimum: 1 }),
    reason: Type.Optional(Type.String()),
    /** when a grant let the submitted statement through: the approval service's signed grant for that decision */
    grant: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ApprovalStatus = Static<typeof ApprovalStatus>;

export const submitApproval = request(
  'approval',
  'v1',
  'submit',
  SubmitApprovalRequest,
  ApprovalStatus,
  'Records a statement that policy holds for approval (or finds the existing request for the same principal and statement) and returns its state.',
);

export const GetApprovalStatusRequest = Type.Object(
  {
    approvalId: Type.String({ minLength: 1 }),
    /**
     * who asks, when a person asks through a door (MCP `approval_status`): the request is then answered only to its
     * requester and its approvers, and to anyone else exactly as an unknown id is (`approval.not_found`)
     */
    caller: Type.Optional(Principal),
  },
  { additionalProperties: false },
);
export type GetApprovalStatusRequest = Static<typeof GetApprovalStatusRequest>;

export const getApprovalStatus = request(
  'approval',
  'v1',
  'status',
  GetApprovalStatusRequest,
  ApprovalStatus,
  'The current state of one approval request (`approval.not_found` for an unknown id); what the proxy asks when it starts holding a statement and when the hold time passes.',
);

export const ApprovalRequested = Type.Object(
  {
    ...eventBase,
    approvalId: Type.String(),
    principal: Principal,
    connection: Type.String(),
    sql: Type.String(),
    fingerprint: Type.String(),
    tables: Type.Array(Type.String()),
    rule: Type.Union([Type.String(), Type.Null()]),
    approverGroups: Type.Array(Type.String()),
    quorum: Type.Integer(),
    expiresAt: Type.String({ format: 'date-time' }),
    justification: Type.Optional(Type.String()),
    kind: Type.Optional(StatementKind),
  },
  { additionalProperties: false },
);
export type ApprovalRequested = Static<typeof ApprovalRequested>;

export const ApprovalDecided = Type.Object(
  {
    ...eventBase,
    approvalId: Type.String(),
    state: ApprovalState,
    approver: Type.Optional(Principal),
    reason: Type.Optional(Type.String()),
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** distinct approving votes so far, and how many are needed */
    approvals: Type.Optional(Type.Integer({ minimum: 0 })),
    quorum: Type.Optional(Type.Integer({ minimum: 1 })),
    /** the grant a `granted` decision created */
    grant: Type.Optional(
      Type.Object(
        { grantId: Type.String(), kind: GrantKind, expiresAt: Type.String({ format: 'date-time' }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ApprovalDecided = Static<typeof ApprovalDecided>;

export const approvalRequested = event('approval', 'v1', 'requested', ApprovalRequested, 'A statement is held for approval.');
export const approvalDecided = event(
  'approval',
  'v1',
  'decided',
  ApprovalDecided,
  'An approval request changed state (an approver voted, it was granted, denied, expired or cancelled).',
);

export const ApprovalGrantUsed = Type.Object(
  {
    ...eventBase,
    approvalId: Type.String(),
    grantId: Type.String(),
    kind: GrantKind,
    principal: Principal,
    connection: Type.String(),
    fingerprint: Type.String(),
  },
  { additionalProperties: false },
);
export type ApprovalGrantUsed = Static<typeof ApprovalGrantUsed>;

export const approvalGrantUsed = event(
  'approval',
  'v1',
  'grant-used',
  ApprovalGrantUsed,
  'A held statement was let through by a grant (a one-shot grant is consumed; a time-window grant covers it).',
);

export const keys = request(
  'approval',
  'v1',
  'keys',
  KeysRequest,
  Jwks,
  'The public keys that verify signed grants (the current key and, during a rotation, the previous ones).',
);

/** The claims of a signed grant (`ApprovalStatus.grant`): the approval service vouches that decision `dec` may run. */
export const GrantClaims = Type.Object({
  /** the `jti` of the policy decision this grant lets through */
  dec: Type.String(),
  aid: Type.String(),
  gid: Type.String(),
  sub: Type.String(),
  con: Type.String(),
  fp: Type.String(),
  pd: Type.String(),
  jti: Type.String(),
});
export type GrantClaims = Static<typeof GrantClaims>;

// ---- HTTP API of the approval service (127.0.0.1:8081) ----

export const VoteView = Type.Object(
  {
    approver: Type.Object(
      { subject: Type.String(), issuer: Type.String(), email: Type.Optional(Type.String()) },
      { additionalProperties: false },
    ),
    decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
    reason: Type.Optional(Type.String()),
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type VoteView = Static<typeof VoteView>;

/** One approval request as approvers and the requester see it. */
export const ApprovalView = Type.Object(
  {
    approvalId: Type.String(),
    state: ApprovalState,
    requester: Type.Object(
      { subject: Type.String(), issuer: Type.String(), email: Type.Optional(Type.String()), groups: Type.Array(Type.String()) },
      { additionalProperties: false },
    ),
    connection: Type.String(),
    sql: Type.String(),
    fingerprint: Type.String(),
    kind: StatementKind,
    tables: Type.Array(Type.String()),
    rule: Type.Union([Type.String(), Type.Null()]),
    justification: Type.Optional(Type.String()),
    /** the bind-parameter values a one-shot grant is bound to */
    params: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Null()]))),
    approverGroups: Type.Array(Type.String()),
    quorum: Type.Integer({ minimum: 1 }),
    approvals: Type.Integer({ minimum: 0 }),
    votes: Type.Array(VoteView),
    reason: Type.Optional(Type.String()),
    windowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type ApprovalView = Static<typeof ApprovalView>;

export const ApprovalList = Type.Object({ approvals: Type.Array(ApprovalView) }, { additionalProperties: false });
export type ApprovalList = Static<typeof ApprovalList>;

export const ApprovalListQuery = Type.Object(
  { state: Type.Optional(Type.Union([ApprovalState, Type.Literal('all')])) },
  { additionalProperties: false },
);
export type ApprovalListQuery = Static<typeof ApprovalListQuery>;

/** `for`: a time window (`"1h"`, `"30m"`, `"1h30m"`, `"90s"` or a number of seconds) instead of a one-shot grant. */
export const ApproveBody = Type.Object(
  {
    for: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 1 })])),
    reason: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type ApproveBody = Static<typeof ApproveBody>;

/** `reason` is required; it is optional in the schema only so that its absence answers `approval.reason_required`. */
export const DenyBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });
export type DenyBody = Static<typeof DenyBody>;

/** `already_recorded`: this approver had voted on the request before, and the vote did not count twice. */
export const DecisionReply = Type.Object(
  { approval: ApprovalView, vote: Type.Union([Type.Literal('recorded'), Type.Literal('already_recorded')]) },
  { additionalProperties: false },
);
export type DecisionReply = Static<typeof DecisionReply>;
