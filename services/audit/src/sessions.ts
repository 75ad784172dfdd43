import { Type, type Static } from '@sinclair/typebox';
import { Principal, proxyV1 } from '@airlock/contracts';

/** What the read side answers about sessions: derived from the recorded events, never stored separately. */

export const StatementOutcome = Type.Union([Type.Literal('completed'), Type.Literal('failed'), Type.Literal('running')]);
export type StatementOutcome = Static<typeof StatementOutcome>;

export const DecisionOutcomeFilter = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('approval-required')]);

export const SessionSummary = Type.Object(
  {
    sessionId: Type.String(),
    principal: Principal,
    connection: Type.String(),
    frontend: Type.String(),
    client: Type.Optional(Type.String()),
    openedAt: Type.String({ format: 'date-time' }),
    closedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    closeReason: Type.Union([Type.String(), Type.Null()]),
    /** statements the proxy asked policy about */
    statements: Type.Integer({ minimum: 0 }),
    completed: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    denied: Type.Integer({ minimum: 0 }),
    maskedCells: Type.Integer({ minimum: 0 }),
    /** schema.table of every table the session's statements touched */
    tables: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type SessionSummary = Static<typeof SessionSummary>;

export const StatementRecord = Type.Object(
  {
    requestId: Type.String(),
    /** when the statement reached Airlock (its first event) */
    at: Type.String({ format: 'date-time' }),
    /** milliseconds since the session opened */
    offsetMs: Type.Number(),
    sql: Type.Union([Type.String(), Type.Null()]),
    kind: Type.Union([Type.String(), Type.Null()]),
    tables: Type.Array(Type.String()),
    decision: Type.Union([
      Type.Object(
        {
          outcome: DecisionOutcomeFilter,
          rule: Type.Union([Type.String(), Type.Null()]),
          reason: Type.String(),
          code: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    approvalId: Type.Optional(Type.String()),
    /** the earlier statement of the same text on this session whose decision this one ran under (reused by the proxy) */
    reusedFrom: Type.Optional(Type.String()),
    leaseId: Type.Union([Type.String(), Type.Null()]),
    outcome: StatementOutcome,
    command: Type.Optional(Type.String()),
    rows: Type.Optional(Type.Integer({ minimum: 0 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    maskedCells: Type.Optional(Type.Integer({ minimum: 0 })),
    detected: Type.Optional(Type.Record(Type.String(), Type.Integer())),
    durationMs: Type.Optional(Type.Number({ minimum: 0 })),
    error: Type.Optional(Type.Object({ code: Type.String(), sqlState: Type.String(), message: Type.String() }, { additionalProperties: false })),
    /** the result exactly as the client received it (masked), within the connection's recording limits */
    result: Type.Optional(proxyV1.RecordedResult),
  },
  { additionalProperties: false },
);
export type StatementRecord = Static<typeof StatementRecord>;

export const SessionDetail = Type.Object(
  { ...SessionSummary.properties, statements: Type.Array(StatementRecord), events: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export type SessionDetail = Static<typeof SessionDetail>;

interface EventRow {
  event_type: string;
  event_time: Date;
  payload: Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function tableNames(decision: Record<string, unknown> | undefined): string[] {
  const analysis = decision?.['analysis'] as { tables?: Array<{ schema?: unknown; table?: unknown }> } | null | undefined;
  return (analysis?.tables ?? []).map((t) => `${String(t.schema)}.${String(t.table)}`);
}

/**
 * A statement that ran under an earlier statement's decision has no decided event of its own: it shows that
 * statement's text and decision (the proxy reuses a decision only for the same text on the same session).
 */
function reuseDecision(s: StatementRecord, from: string | undefined, statements: ReadonlyMap<string, StatementRecord>): void {
  const first = from === undefined ? undefined : statements.get(from);
  if (from === undefined || first === undefined || first === s) return;
  s.reusedFrom = from;
  s.sql = first.sql;
  s.kind = first.kind;
  s.tables = [...first.tables];
  s.decision = first.decision ? { ...first.decision } : null;
}

/**
 * Folds one session's events (in chain order) into its statements. Pure. Returns undefined when the session's
 * opening was never recorded.
 */
export function buildSession(rows: readonly EventRow[]): SessionDetail | undefined {
  const opened = rows.find((r) => r.event_type === 'proxy.v1.session-opened');
  if (!opened) return undefined;
  const openedAt = opened.event_time.getTime();
  const statements = new Map<string, StatementRecord>();
  const statementOf = (row: EventRow): StatementRecord | undefined => {
    const requestId = str(row.payload['requestId']);
    if (!requestId) return undefined;
    let s = statements.get(requestId);
    if (!s) {
      // a read that ended within moments has its end as its only record: it started its duration earlier
      const ended = row.event_type === 'proxy.v1.query-completed' || row.event_type === 'proxy.v1.query-failed';
      const at = row.event_time.getTime() - (ended ? Math.round(num(row.payload['durationMs']) ?? 0) : 0);
      s = {
        requestId,
        at: new Date(at).toISOString(),
        offsetMs: at - openedAt,
        sql: null,
        kind: null,
        tables: [],
        decision: null,
        leaseId: null,
        outcome: 'running',
      };
      statements.set(requestId, s);
    }
    return s;
  };
  let closed: EventRow | undefined;
  for (const row of rows) {
    const p = row.payload;
    switch (row.event_type) {
      case 'proxy.v1.session-closed':
        closed = row;
        break;
      case 'policy.v1.decided': {
        const s = statementOf(row);
        if (!s) break;
        const d = p['decision'] as Record<string, unknown> | undefined;
        s.sql = str(p['sql']) ?? null;
        s.kind = str((d?.['analysis'] as Record<string, unknown> | null | undefined)?.['kind']) ?? null;
        s.tables = tableNames(d);
        if (d) {
          const code = str(d['code']);
          s.decision = {
            outcome: d['outcome'] as 'allow' | 'deny' | 'approval-required',
            rule: str(d['rule']) ?? null,
            reason: str(d['reason']) ?? '',
            ...(code ? { code } : {}),
          };
        }
        break;
      }
      case 'approval.v1.requested': {
        const s = statementOf(row);
        const id = str(p['approvalId']);
        if (s && id) s.approvalId = id;
        break;
      }
      case 'proxy.v1.query-started': {
        const s = statementOf(row);
        if (!s) break;
        s.leaseId = str(p['leaseId']) ?? s.leaseId;
        const reused = p['reused'] as Record<string, unknown> | undefined;
        if (reused) reuseDecision(s, str(reused['requestId']), statements);
        break;
      }
      case 'proxy.v1.query-completed': {
        const s = statementOf(row);
        if (!s) break;
        s.outcome = 'completed';
        s.leaseId = str(p['leaseId']) ?? s.leaseId;
        // a read that ended before its start was recorded carries the reused decision on its end
        const reused = p['reused'] as Record<string, unknown> | undefined;
        if (reused) reuseDecision(s, str(reused['requestId']), statements);
        s.command = str(p['command']) ?? '';
        s.rows = num(p['rows']) ?? 0;
        s.bytes = num(p['bytes']) ?? 0;
        s.maskedCells = num(p['maskedCells']) ?? 0;
        s.detected = (p['detected'] as Record<string, number> | undefined) ?? {};
        s.durationMs = num(p['durationMs']) ?? 0;
        if (p['result']) s.result = p['result'] as StatementRecord['result'] & object;
        break;
      }
      case 'proxy.v1.query-failed': {
        const s = statementOf(row);
        if (!s) break;
        s.outcome = 'failed';
        s.leaseId = str(p['leaseId']) ?? s.leaseId;
        const reused = p['reused'] as Record<string, unknown> | undefined;
        if (reused) reuseDecision(s, str(reused['requestId']), statements);
        s.durationMs = num(p['durationMs']) ?? 0;
        s.error = { code: str(p['code']) ?? '', sqlState: str(p['sqlState']) ?? '', message: str(p['message']) ?? '' };
        for (const k of ['rows', 'bytes', 'maskedCells'] as const) {
          const n = num(p[k]);
          if (n !== undefined) s[k] = n;
        }
        break;
      }
    }
  }
  const list = [...statements.values()];
  const op = opened.payload;
  const client = str(op['client']);
  return {
    sessionId: str(op['sessionId']) ?? '',
    principal: op['principal'] as Principal,
    connection: str(op['connection']) ?? '',
    frontend: str(op['frontend']) ?? '',
    ...(client ? { client } : {}),
    openedAt: opened.event_time.toISOString(),
    closedAt: closed ? closed.event_time.toISOString() : null,
    closeReason: closed ? (str(closed.payload['reason']) ?? null) : null,
    statements: list,
    completed: list.filter((s) => s.outcome === 'completed').length,
    failed: list.filter((s) => s.outcome === 'failed').length,
    denied: list.filter((s) => s.decision?.outcome === 'deny').length,
    maskedCells: list.reduce((n, s) => n + (s.maskedCells ?? 0), 0),
    tables: [...new Set(list.flatMap((s) => s.tables))].sort(),
    events: rows.length,
  };
}
