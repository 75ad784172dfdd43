import { Type, type Static } from '@sinclair/typebox';
import { Analysis, ColumnRef, Jwks, KeysRequest, MaskingPlan, Principal } from '../common.js';
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
    /** digest of the statement's bind-parameter values (`digest()` of the array); the signed decision binds it */
    paramsDigest: Type.Optional(Type.String({ maxLength: 128 })),
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

/** One allow-list verdict: a function, setting or operator the statement uses, its class, and whether it may run. */
export const AllowListVerdict = Type.Object(
  {
    kind: Type.Union([Type.Literal('function'), Type.Literal('setting'), Type.Literal('operator')]),
    name: Type.String(),
    /** a function's class (`scalar`, `sql-from-text`, …, `unknown`); a setting's `settable`, `pinned` or `unlisted` */
    class: Type.String(),
    allowed: Type.Boolean(),
    /** why, completing "<name> …" */
    reason: Type.String(),
  },
  { $id: 'AllowListVerdict', additionalProperties: false },
);
export type AllowListVerdict = Static<typeof AllowListVerdict>;

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
    /** the allow-list verdict on each function, setting and non-catalog operator the statement uses (once analysed) */
    allowList: Type.Optional(Type.Array(AllowListVerdict)),
    /**
     * The decision signed by the policy service (a compact JWS): principal, connection, fingerprint, parameters,
     * scope, outcome, approvers, masking plan digest, expiry. Credential, approval and the proxy act only on it.
     */
    token: Type.Optional(Type.String()),
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
    /** the decision without its signed token: the stream is readable more widely than the token may travel */
    decision: Decision,
  },
  { additionalProperties: false },
);
export type Decided = Static<typeof Decided>;

export const decided = event('policy', 'v1', 'decided', Decided, 'A statement was decided, with the full explanation.');

export const EpochChanged = Type.Object(
  {
    ...eventBase,
    /** digest of the config and the catalogues policy now decides with */
    epoch: Type.String(),
    /** what changed: a policy process started (with its config), or a connection's catalogue was found changed */
    cause: Type.Union([Type.Literal('started'), Type.Literal('catalog')]),
    /** the connection whose catalogue changed */
    connection: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type EpochChanged = Static<typeof EpochChanged>;

export const epochChanged = event(
  'policy',
  'v1',
  'epoch-changed',
  EpochChanged,
  'What policy decides with changed (its config at start, or a catalogue): decisions made before may no longer hold, so proxies stop reusing them.',
);

export const keys = request(
  'policy',
  'v1',
  'keys',
  KeysRequest,
  Jwks,
  'The public keys that verify signed decisions (the current key and, during a rotation, the previous ones).',
);

/** The claims of a signed decision (`Decision.token`), besides `iss`, `jti`, `iat` and `exp`. */
export const DecisionClaims = Type.Object({
  /** principal: subject and issuer */
  sub: Type.String(),
  pis: Type.String(),
  /** the request and session it answers */
  req: Type.String(),
  ses: Type.String(),
  con: Type.String(),
  /** statement fingerprint, digest of its normalised text, its kind and tables */
  fp: Type.String(),
  sd: Type.String(),
  kind: Type.String(),
  tbl: Type.Array(Type.String()),
  /** digest of the bind-parameter values */
  pd: Type.String(),
  out: DecisionOutcome,
  rule: Type.Union([Type.String(), Type.Null()]),
  scope: Type.Union([
    Type.Object({ role: Type.String(), ttl: Type.Integer(), mode: LeaseMode }, { additionalProperties: false }),
    Type.Null(),
  ]),
  appr: Type.Union([Type.Object({ groups: Type.Array(Type.String()), quorum: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }), Type.Null()]),
  /** digest of the masking plan the proxy must apply */
  mask: Type.String(),
  /**
   * digest of the analysis the proxy acts on besides the plan (what a transaction-control statement does, the prepared
   * statement or cursor a statement names); absent from decisions signed before it existed
   */
  an: Type.Optional(Type.String()),
  /**
   * present only on a decision the proxy may reuse for the same statement text on the same session, without asking
   * again: for `s` seconds at most after it receives it, or until policy announces an epoch other than `ep` (a digest
   * of the config and the catalogue the decision was made with). Absent: the decision answers this request alone.
   */
  reuse: Type.Optional(Type.Object({ s: Type.Integer({ minimum: 1 }), ep: Type.String() }, { additionalProperties: false })),
  jti: Type.String(),
});
export type DecisionClaims = Static<typeof DecisionClaims>;

export const ExplainAccessRequest = Type.Object(
  {
    principal: Principal,
    /** one connection to explain; every configured connection when absent */
    connection: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type ExplainAccessRequest = Static<typeof ExplainAccessRequest>;

/** One rule that lets the principal run statements on a connection, as the config states it. */
export const AccessRule = Type.Object(
  {
    rule: Type.String(),
    decision: Type.Union([Type.Literal('allow'), Type.Literal('approval')]),
    /** statement kinds the rule covers: select, insert, update, delete, … */
    kinds: Type.Array(Type.String()),
    /** table patterns; ["*"] for any table */
    tables: Type.Array(Type.String()),
    /** groups that approve, for an approval rule; empty otherwise */
    approvers: Type.Array(Type.String()),
  },
  { $id: 'AccessRule', additionalProperties: false },
);
export type AccessRule = Static<typeof AccessRule>;

export const ConnectionAccess = Type.Object(
  {
    name: Type.String(),
    type: Type.Union([Type.Literal('postgres'), Type.Literal('snowflake')]),
    /** the rules, in config order (the first that matches a statement decides it); empty when none applies */
    rules: Type.Array(AccessRule),
  },
  { $id: 'ConnectionAccess', additionalProperties: false },
);
export type ConnectionAccess = Static<typeof ConnectionAccess>;

export const ExplainAccessResponse = Type.Object(
  {
    /** each configured connection asked about, in config order; none for an unknown connection */
    connections: Type.Array(ConnectionAccess),
  },
  { additionalProperties: false },
);
export type ExplainAccessResponse = Static<typeof ExplainAccessResponse>;

export const explainAccess = request(
  'policy',
  'v1',
  'explain-access',
  ExplainAccessRequest,
  ExplainAccessResponse,
  'Which rules let a principal run statements on each connection (or one connection): the same rule matching as decide, without a statement.',
);
