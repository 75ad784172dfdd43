import type pg from 'pg';
import { migrate } from '@airlock/runtime';
import { chainHash, genesisHash } from '../canonical.js';

const migrations = [
  {
    id: '001-audit-events',
    sql: `CREATE TABLE audit_events (
            seq bigint PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            subject text NOT NULL,
            event_type text NOT NULL,
            event_time timestamptz NOT NULL,
            request_id text,
            session_id text,
            subject_principal text,
            payload jsonb NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now());
          CREATE INDEX audit_events_session ON audit_events (session_id, seq);
          CREATE INDEX audit_events_request ON audit_events (request_id, seq);
          CREATE INDEX audit_events_principal ON audit_events (subject_principal, seq);
          -- append-only: no role, not even the owner, may change or remove a row
          CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;
          CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
          CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();`,
  },
];

export async function migrateAudit(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'audit', migrations);
}

export interface AuditRow {
  seq: number;
  event_id: string;
  subject: string;
  event_type: string;
  event_time: Date;
  request_id: string | null;
  session_id: string | null;
  subject_principal: string | null;
  payload: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** The append-only, hash-chained audit table. Appends are serialised by an advisory lock so copies keep one chain. */
export class AuditStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Appends an event once: a second append of the same event id is a no-op. Returns false for a duplicate. */
  async append(subject: string, payload: Record<string, unknown>): Promise<boolean> {
    const eventId = String(payload['id']);
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('airlock-audit-chain'))");
      const dup = await client.query('SELECT 1 FROM audit_events WHERE event_id = $1', [eventId]);
      if (dup.rowCount) {
        await client.query('COMMIT');
        return false;
      }
      const { rows } = await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      const prev = rows[0]?.hash ?? genesisHash;
      const seq = Number(rows[0]?.seq ?? 0) + 1;
      const hash = chainHash(prev, { seq, eventId, subject, payload });
      const principal = payload['principal'] as { subject?: unknown } | undefined;
      await client.query(
        `INSERT INTO audit_events (seq, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          seq,
          eventId,
          subject,
          subject.split('.').slice(-3).join('.'),
          String(payload['time']),
          typeof payload['requestId'] === 'string' ? payload['requestId'] : null,
          typeof payload['sessionId'] === 'string' ? payload['sessionId'] : null,
          typeof principal?.subject === 'string' ? principal.subject : null,
          payload,
          prev,
          hash,
        ],
      );
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async search(filter: { sessionId?: string; requestId?: string; principal?: string; type?: string; limit?: number; afterSeq?: number }): Promise<AuditRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (filter.sessionId) add('session_id = ?', filter.sessionId);
    if (filter.requestId) add('request_id = ?', filter.requestId);
    if (filter.principal) add('subject_principal = ?', filter.principal);
    if (filter.type) add('event_type = ?', filter.type);
    if (filter.afterSeq !== undefined) add('seq > ?', filter.afterSeq);
    args.push(Math.min(filter.limit ?? 500, 5000));
    const { rows } = await this.#pool.query<AuditRow>(
      `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT $${args.length}`,
      args,
    );
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  /** Walks the whole chain; names the first row whose link or content does not verify, or a gap in the sequence. */
  async verify(): Promise<{ ok: boolean; rows: number; firstBad?: { seq: number; problem: string } }> {
    const client = await this.#pool.connect();
    try {
      let prev = genesisHash;
      let expectedSeq = 1;
      let count = 0;
      const batch = 5000;
      for (;;) {
        const { rows } = await client.query<AuditRow>(
          'SELECT seq, event_id, subject, payload, prev_hash, hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2',
          [expectedSeq, batch],
        );
        for (const r of rows) {
          const seq = Number(r.seq);
          if (seq !== expectedSeq) return { ok: false, rows: count, firstBad: { seq: expectedSeq, problem: `row ${expectedSeq} is missing` } };
          if (r.prev_hash !== prev) return { ok: false, rows: count, firstBad: { seq, problem: `row ${seq} does not link to row ${seq - 1}` } };
          const h = chainHash(prev, { seq, eventId: r.event_id, subject: r.subject, payload: r.payload });
          if (h !== r.hash) return { ok: false, rows: count, firstBad: { seq, problem: `row ${seq} was altered` } };
          prev = r.hash;
          expectedSeq += 1;
          count += 1;
        }
        if (rows.length < batch) break;
      }
      return { ok: true, rows: count };
    } finally {
      client.release();
    }
  }
}
