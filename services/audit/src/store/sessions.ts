import type pg from 'pg';
import type { Principal } from '@airlock/contracts';
import { buildSession, type SessionDetail, type SessionSummary } from '../sessions.js';

export interface SessionFilter {
  /** the principal's subject */
  principal?: string;
  connection?: string;
  /** `table` or `schema.table`, case-insensitive: sessions with a statement that touched it */
  table?: string;
  /** sessions with at least one statement decided so */
  decision?: 'allow' | 'deny' | 'approval-required';
  /** sessions with at least one statement that ended so */
  outcome?: 'completed' | 'failed';
  /** sessions opened at or after */
  from?: Date;
  /** sessions opened before */
  to?: Date;
  limit?: number;
}

interface SummaryRow {
  session_id: string;
  opened_at: Date;
  opened: { principal: Principal; connection: string; frontend: string; client?: string };
  closed_at: Date | null;
  close_reason: string | null;
  statements: string;
  completed: string;
  failed: string;
  denied: string;
  masked_cells: string;
  tables: string[] | null;
}

/** Sessions and their statements, derived on read from the audit events (the chain stays the only record). */
export class SessionStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Newest first. */
  async list(filter: SessionFilter): Promise<SessionSummary[]> {
    const args: unknown[] = [];
    const arg = (v: unknown) => {
      args.push(v);
      return `$${args.length}`;
    };
    const opened: string[] = [`o.event_type = 'proxy.v1.session-opened'`, 'o.session_id IS NOT NULL'];
    if (filter.principal) opened.push(`o.subject_principal = ${arg(filter.principal)}`);
    if (filter.connection) opened.push(`o.payload->>'connection' = ${arg(filter.connection)}`);
    if (filter.from) opened.push(`o.event_time >= ${arg(filter.from)}`);
    if (filter.to) opened.push(`o.event_time < ${arg(filter.to)}`);
    const having: string[] = [];
    if (filter.table) {
      const [schema, table] = filter.table.includes('.') ? filter.table.split('.', 2) : [undefined, filter.table];
      having.push(`EXISTS (SELECT 1 FROM audit_events d,
                    jsonb_array_elements(CASE WHEN jsonb_typeof(d.payload->'decision'->'analysis'->'tables') = 'array'
                                              THEN d.payload->'decision'->'analysis'->'tables' ELSE '[]'::jsonb END) t
                  WHERE d.session_id = o.session_id AND d.event_type = 'policy.v1.decided'
                    AND lower(t->>'table') = lower(${arg(table)})
                    ${schema ? `AND lower(t->>'schema') = lower(${arg(schema)})` : ''})`);
    }
    if (filter.decision) {
      having.push(`EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = o.session_id AND d.event_type = 'policy.v1.decided'
                    AND d.payload->'decision'->>'outcome' = ${arg(filter.decision)})`);
    }
    if (filter.outcome) {
      const type = filter.outcome === 'completed' ? 'proxy.v1.query-completed' : 'proxy.v1.query-failed';
      having.push(`EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = o.session_id AND d.event_type = ${arg(type)})`);
    }
    const limit = arg(Math.min(filter.limit ?? 100, 1000));
    const { rows } = await this.#pool.query<SummaryRow>(
      `SELECT o.session_id, o.event_time AS opened_at, o.payload AS opened,
              s.closed_at, s.close_reason, s.statements, s.completed, s.failed, s.denied, s.masked_cells, tb.tables
         FROM audit_events o
         CROSS JOIN LATERAL (
           SELECT max(e.event_time) FILTER (WHERE e.event_type = 'proxy.v1.session-closed') AS closed_at,
                  max(e.payload->>'reason') FILTER (WHERE e.event_type = 'proxy.v1.session-closed') AS close_reason,
                  count(*) FILTER (WHERE e.event_type = 'policy.v1.decided') AS statements,
                  count(*) FILTER (WHERE e.event_type = 'proxy.v1.query-completed') AS completed,
                  count(*) FILTER (WHERE e.event_type = 'proxy.v1.query-failed') AS failed,
                  count(*) FILTER (WHERE e.event_type = 'policy.v1.decided' AND e.payload->'decision'->>'outcome' = 'deny') AS denied,
                  coalesce(sum((e.payload->>'maskedCells')::bigint) FILTER (WHERE e.event_type = 'proxy.v1.query-completed'), 0) AS masked_cells
             FROM audit_events e WHERE e.session_id = o.session_id) s
         CROSS JOIN LATERAL (
           SELECT array_agg(DISTINCT (t->>'schema') || '.' || (t->>'table') ORDER BY (t->>'schema') || '.' || (t->>'table')) AS tables
             FROM audit_events d,
                  jsonb_array_elements(CASE WHEN jsonb_typeof(d.payload->'decision'->'analysis'->'tables') = 'array'
                                            THEN d.payload->'decision'->'analysis'->'tables' ELSE '[]'::jsonb END) t
            WHERE d.session_id = o.session_id AND d.event_type = 'policy.v1.decided') tb
        WHERE ${opened.join(' AND ')} ${having.length ? `AND ${having.join(' AND ')}` : ''}
        ORDER BY o.event_time DESC, o.seq DESC
        LIMIT ${limit}`,
      args,
    );
    return rows.map((r) => ({
      sessionId: r.session_id,
      principal: r.opened.principal,
      connection: r.opened.connection,
      frontend: r.opened.frontend,
      ...(r.opened.client ? { client: r.opened.client } : {}),
      openedAt: r.opened_at.toISOString(),
      closedAt: r.closed_at ? r.closed_at.toISOString() : null,
      closeReason: r.close_reason,
      statements: Number(r.statements),
      completed: Number(r.completed),
      failed: Number(r.failed),
      denied: Number(r.denied),
      maskedCells: Number(r.masked_cells),
      tables: r.tables ?? [],
    }));
  }

  /** One session with every statement, or undefined when its opening was never recorded. */
  async get(sessionId: string): Promise<SessionDetail | undefined> {
    const { rows } = await this.#pool.query<{ event_type: string; event_time: Date; payload: Record<string, unknown> }>(
      'SELECT event_type, event_time, payload FROM audit_events WHERE session_id = $1 ORDER BY seq',
      [sessionId],
    );
    return buildSession(rows);
  }
}
