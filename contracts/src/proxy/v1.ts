import { Type, type Static } from '@sinclair/typebox';
import { Principal } from '../common.js';
import { event } from '../descriptor.js';
import { eventBase } from '../event-base.js';

export const Frontend = Type.Union([Type.Literal('pgwire'), Type.Literal('snowflake'), Type.Literal('mcp'), Type.Literal('http')]);
export type Frontend = Static<typeof Frontend>;

export const RecordedResult = Type.Object(
  {
    columns: Type.Array(Type.String()),
    rows: Type.Array(Type.Array(Type.Union([Type.String(), Type.Null()]))),
    /** true when rows or bytes beyond the recording limits were left out */
    truncated: Type.Boolean(),
  },
  { $id: 'RecordedResult', additionalProperties: false },
);
export type RecordedResult = Static<typeof RecordedResult>;

export const SessionOpened = Type.Object(
  {
    ...eventBase,
    sessionId: Type.String(),
    principal: Principal,
    connection: Type.String(),
    frontend: Frontend,
    client: Type.Optional(Type.String({ description: 'client address' })),
    proxy: Type.String({ description: 'the proxy instance' }),
  },
  { additionalProperties: false },
);
export type SessionOpened = Static<typeof SessionOpened>;

export const SessionClosed = Type.Object(
  {
    ...eventBase,
    sessionId: Type.String(),
    reason: Type.String(),
    statements: Type.Integer({ minimum: 0 }),
    /** metadata-surface reads not recorded one by one (`audit.metadataReads: summary`) */
    metadataReads: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type SessionClosed = Static<typeof SessionClosed>;

/** The decision a statement reused: the request it was made for, what it decided, and the statement it is about. */
export const ReusedDecision = Type.Object(
  {
    requestId: Type.String(),
    outcome: Type.Literal('allow'),
    rule: Type.Union([Type.String(), Type.Null()]),
    /** the signed digest of the statement text the decision is about (`sd` in its claims) */
    statementDigest: Type.String(),
  },
  { $id: 'ReusedDecision', additionalProperties: false },
);
export type ReusedDecision = Static<typeof ReusedDecision>;

export const QueryStarted = Type.Object(
  {
    ...eventBase,
    requestId: Type.String(),
    sessionId: Type.String(),
    connection: Type.String(),
    leaseId: Type.String(),
    /**
     * the statement runs under a decision made for an earlier statement of the same text on this session (the proxy
     * reused it without asking policy again): that statement's request, whose `policy.v1.decided` event holds the SQL
     */
    reused: Type.Optional(ReusedDecision),
  },
  { additionalProperties: false },
);
export type QueryStarted = Static<typeof QueryStarted>;

export const QueryCompleted = Type.Object(
  {
    ...eventBase,
    requestId: Type.String(),
    sessionId: Type.String(),
    connection: Type.String(),
    leaseId: Type.Union([Type.String(), Type.Null()]),
    /**
     * the decision it ran under was reused (as in `query-started`): set here when the statement ended before its start
     * was recorded, so that its end is its only record
     */
    reused: Type.Optional(ReusedDecision),
    command: Type.String({ description: 'the command tag, e.g. SELECT 5' }),
    rows: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0 }),
    maskedCells: Type.Integer({ minimum: 0 }),
    detected: Type.Record(Type.String(), Type.Integer()),
    durationMs: Type.Number({ minimum: 0 }),
    /** the result as the client received it (masked), kept up to the connection's recording limits, for replay */
    result: Type.Optional(RecordedResult),
  },
  { additionalProperties: false },
);
export type QueryCompleted = Static<typeof QueryCompleted>;

export const QueryFailed = Type.Object(
  {
    ...eventBase,
    requestId: Type.String(),
    sessionId: Type.String(),
    connection: Type.String(),
    leaseId: Type.Union([Type.String(), Type.Null()]),
    /**
     * the decision it ran under was reused (as in `query-started`): set here when the statement ended before its start
     * was recorded, so that its end is its only record
     */
    reused: Type.Optional(ReusedDecision),
    code: Type.String(),
    sqlState: Type.String(),
    message: Type.String(),
    durationMs: Type.Number({ minimum: 0 }),
    /** rows, bytes and masked cells already sent to the client when the statement failed mid-result */
    rows: Type.Optional(Type.Integer({ minimum: 0 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    maskedCells: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type QueryFailed = Static<typeof QueryFailed>;

export const sessionOpened = event('proxy', 'v1', 'session-opened', SessionOpened, 'A client session was authenticated and opened.');
export const sessionClosed = event('proxy', 'v1', 'session-closed', SessionClosed, 'A client session ended.');
export const queryStarted = event('proxy', 'v1', 'query-started', QueryStarted, 'An allowed statement started upstream under a lease (a read that ends within 50 ms has its end as its only record).');
export const queryCompleted = event('proxy', 'v1', 'query-completed', QueryCompleted, 'A statement completed; counts of rows, bytes and masked cells.');
export const queryFailed = event('proxy', 'v1', 'query-failed', QueryFailed, 'A statement failed or was refused.');
