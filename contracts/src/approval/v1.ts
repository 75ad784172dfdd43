import { Type, type Static } from '@sinclair/typebox';
import { Principal, StatementKind } from '../common.js';
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
