import { Type, type Static } from '@sinclair/typebox';
import { Analysis, ColumnRef, MaskingPlan, Principal } from '../common.js';
import { event, request } from '../descriptor.js';
import { eventBase } from '../event-base.js';

export const LeaseMode = Type.Union([Type.Literal('session'), Type.Literal('statement')]);
export type LeaseMode = Static<typeof LeaseMode>;

export const DecideRequest = Type.Object(
  {
    requestId: Type.String(),
    sessionId: Type.String(),
    principal: Principal,
    connection: Type.String(),
    sql: Type.String(),
    frontend: Type.String(),
  },
  { additionalProperties: false },
);
export type DecideRequest = Static<typeof DecideRequest>;

export const Scope = Type.Object(
  {
    /** the database role the lease is granted, as the connection names it */
    role: Type.String(),
    ttlSeconds: Type.Integer({ minimum: 1 }),
    leaseMode: LeaseMode,
  },
  { additionalProperties: false },
);
export type Scope = Static<typeof Scope>;

export const Limits = Type.Object(
  {
    maxRows: Type.Integer({ minimum: 1 }),
    timeoutMs: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type Limits = Static<typeof Limits>;

export const DecisionOutcome = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('approval-required')]);
export type DecisionOutcome = Static<typeof DecisionOutcome>;

export const Decision = Type.Object(
  {
    requestId: Type.String(),
    outcome: DecisionOutcome,
    /** stable error code when denied (`policy.denied`, `policy.parse_error`, …) */
    code: Type.Optional(Type.String()),
    /** why, in words an agent can act on; never contains a value from the statement */
    reason: Type.String(),
    /** the name of the rule that decided, or null for the default */
    rule: Type.Union([Type.String(), Type.Null()]),
    scope: Type.Union([Scope, Type.Null()]),
    approval: Type.Union([
      Type.Object({ approverGroups: Type.Array(Type.String()), quorum: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      Type.Null(),
    ]),
    masking: MaskingPlan,
    maskedSources: Type.Array(ColumnRef),
    limits: Limits,
    analysis: Type.Union([Analysis, Type.Null()]),
  },
  { $id: 'Decision', additionalProperties: false },
);
export type Decision = Static<typeof Decision>;

export const decide = request(
  'policy',
  'v1',
  'decide',
  DecideRequest,
  Decision,
  'Analyses one SQL text for a principal on a connection and decides allow, deny or approval-required, with scope, masking plan and limits.',
);

export const Decided = Type.Object(
  {
    ...eventBase,
    principal: Principal,
    connection: Type.String(),
    sql: Type.String({ description: 'the statement text as submitted' }),
    decision: Decision,
  },
  { additionalProperties: false },
);
export type Decided = Static<typeof Decided>;

export const decided = event('policy', 'v1', 'decided', Decided, 'A statement was decided, with the full explanation.');
