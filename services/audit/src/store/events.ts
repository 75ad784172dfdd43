import type pg from 'pg';
import { migrate } from '@airlock/runtime';
import { chainHash, genesisHash } from '../canonical.js';

/**
 * The role every append runs under (`SET LOCAL ROLE`): it may INSERT and SELECT audit rows and nothing else, so a
 * bug or an injected statement in the writer cannot UPDATE, DELETE or TRUNCATE them even with the triggers disabled.
 */
export const writerRole = 'airlock_audit_writer';

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
  {
    id: '002-writer-role',
    // roles are cluster-wide: several databases (or copies) may race to create it, and either outcome is fine
    sql: `DO $$
          BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${writerRole}') THEN
              CREATE ROLE ${writerRole} NOLOGIN;
            END IF;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END $$;
          REVOKE ALL ON audit_events FROM ${writerRole};
          GRANT SELECT, INSERT ON audit_events TO ${writerRole};
          DO $$
          BEGIN
            -- the migrating user must be able to SET ROLE to the writer; a superuser always can
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              EXECUTE format('GRANT ${writerRole} TO %I', current_user);
            END IF;
          END $$;
          CREATE INDEX audit_events_type_time ON audit_events (event_type, event_time);`,
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

/** One event to append, as it came off the stream. */
export interface IncomingEvent {
  subject: string;
  payload: unknown;
  /** the stream sequence: names the event when its payload carries no usable id */
  streamSequence: number;
}

export interface EventFilter {
  sessionId?: string;
  requestId?: string;
  principal?: string;
  type?: string;
  afterSeq?: number;
  from?: Date;
  to?: Date;
  limit?: number;
  /** the last n matching events (still in ascending order) instead of the first */
  tail?: number;
}

export interface VerifyResult {
  ok: boolean;
  /** rows checked before the first problem (all rows when ok) */
  rows: number;
  lastSeq: number;
  /**
   * `altered`: a row's content no longer matches its keyed hash, or differs from the event on the stream;
   * `missing`: a gap in the sequence, or an event of the stream absent from the table; `relinked`: re-hashed after an
   * edit; `truncated`: the table ends before a signed checkpoint, or before events the stream holds;
   * `checkpoint`: a checkpoint's signature or row does not hold.
   */
  firstBad?: { seq: number; problem: 'altered' | 'missing' | 'relinked' | 'truncated' | 'checkpoint'; message: string; eventId?: string; type?: string };
  /** signed checkpoints checked against the table, and events of the stream cross-checked */
  checkpoints?: number;
  streamEvents?: number;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The row columns of one event; the payload is stored exactly as received (made storable, never reinterpreted). */
export function toRecord(e: IncomingEvent) {
  const raw = typeof e.payload === 'object' && e.payload !== null && !Array.isArray(e.payload) ? (e.payload as Record<string, unknown>) : { undecodable: true, value: e.payload ?? null };
  const payload = storable(raw);
  const id = payload['id'];
  // a foreign publisher's event without a uuid still gets a stable id, so its redelivery stays a duplicate
  const eventId = typeof id === 'string' && uuid.test(id) ? id.toLowerCase() : `00000000-0000-4000-8000-${String(e.streamSequence).padStart(12, '0')}`;
  const time = typeof payload['time'] === 'string' && !Number.isNaN(Date.parse(payload['time'])) ? payload['time'] : new Date().toISOString();
  const principal = payload['principal'] as { subject?: unknown } | undefined;
  return {
    eventId,
    subject: e.subject,
    eventType: e.subject.split('.').slice(-3).join('.'),
    time,
    requestId: typeof payload['requestId'] === 'string' ? payload['requestId'] : null,
    sessionId: typeof payload['sessionId'] === 'string' ? payload['sessionId'] : null,
    principal: typeof principal?.subject === 'string' ? principal.subject : null,
    payload,
  };
}

/** jsonb refuses NUL in strings: such a payload would block the chain forever, so NUL becomes U+FFFD before hashing. */
function storable(payload: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(payload);
  return text.includes('\\u0000') ? (JSON.parse(text.replaceAll('\\u0000', '\\ufffd')) as Record<string, unknown>) : payload;
}

/** The append-only, hash-chained audit table. Appends are serialised by an advisory lock so copies keep one chain. */
export class AuditStore {
  readonly #pool: pg.Pool;
  readonly #key: Buffer;
  /** `key`: the chain's HMAC key, held by the audit service alone */
  constructor(pool: pg.Pool, key: Buffer) {
    this.#pool = pool;
    this.#key = key;
  }

  /** Appends an event once: a second append of the same event id is a no-op. Returns false for a duplicate. */
  async append(subject: string, payload: Record<string, unknown>, streamSequence = 0): Promise<boolean> {
    return (await this.appendBatch([{ subject, payload, streamSequence }])) === 1;
  }

  /**
   * Appends events in the given order in one transaction, skipping any whose id is already recorded (or repeated
   * in the batch). Runs as the writer role. Returns how many rows were added.
   */
  async appendBatch(events: readonly IncomingEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const records = events.map(toRecord);
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${writerRole}`);
      await client.query("SELECT pg_advisory_xact_lock(hashtext('airlock-audit-chain'))");
      const { rows: known } = await client.query<{ event_id: string }>('SELECT event_id FROM audit_events WHERE event_id = ANY($1::uuid[])', [
        records.map((r) => r.eventId),
      ]);
      const seen = new Set(known.map((k) => k.event_id));
      const fresh = records.filter((r) => (seen.has(r.eventId) ? false : (seen.add(r.eventId), true)));
      if (fresh.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const { rows } = await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      let prev = rows[0]?.hash ?? genesisHash;
      let seq = Number(rows[0]?.seq ?? 0);
      const cols = { seq: [] as number[], prev: [] as string[], hash: [] as string[], payload: [] as string[] };
      for (const r of fresh) {
        seq += 1;
        const hash = chainHash(this.#key, prev, { seq, eventId: r.eventId, subject: r.subject, payload: r.payload });
        cols.seq.push(seq);
        cols.prev.push(prev);
        cols.hash.push(hash);
        cols.payload.push(JSON.stringify(r.payload));
        prev = hash;
      }
      await client.query(
        `INSERT INTO audit_events (seq, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload, prev_hash, hash)
         SELECT seq, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload::jsonb, prev_hash, hash
         FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
           AS t(seq, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload, prev_hash, hash)`,
        [
          cols.seq,
          fresh.map((r) => r.eventId),
          fresh.map((r) => r.subject),
          fresh.map((r) => r.eventType),
          fresh.map((r) => r.time),
          fresh.map((r) => r.requestId),
          fresh.map((r) => r.sessionId),
          fresh.map((r) => r.principal),
          cols.payload,
          cols.prev,
          cols.hash,
        ],
      );
      await client.query('COMMIT');
      return fresh.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** The head of the chain: its last row and hash (seq 0 when empty). */
  async head(): Promise<{ seq: number; hash: string }> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    return { seq: Number(rows[0]?.seq ?? 0), hash: rows[0]?.hash ?? genesisHash };
  }

  /** The rows of these event ids, for the cross-check against the stream. */
  async byEventIds(ids: readonly string[]): Promise<Map<string, AuditRow>> {
    const { rows } = await this.#pool.query<AuditRow>('SELECT seq, event_id, subject, event_type, payload, hash FROM audit_events WHERE event_id = ANY($1::uuid[])', [ids]);
    return new Map(rows.map((r) => [r.event_id, { ...r, seq: Number(r.seq) }]));
  }

  /** The row at `seq`, if present. */
  async at(seq: number): Promise<AuditRow | undefined> {
    const { rows } = await this.#pool.query<AuditRow>('SELECT * FROM audit_events WHERE seq = $1', [seq]);
    return rows[0] ? { ...rows[0], seq: Number(rows[0].seq) } : undefined;
  }

  async search(filter: EventFilter): Promise<AuditRow[]> {
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
    if (filter.from) add('event_time >= ?', filter.from);
    if (filter.to) add('event_time < ?', filter.to);
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    let sql: string;
    if (filter.tail !== undefined) {
      args.push(Math.min(filter.tail, 5000));
      sql = `SELECT * FROM (SELECT * FROM audit_events ${cond} ORDER BY seq DESC LIMIT $${args.length}) t ORDER BY seq`;
    } else {
      args.push(Math.min(filter.limit ?? 500, 5000));
      sql = `SELECT * FROM audit_events ${cond} ORDER BY seq LIMIT $${args.length}`;
    }
    const { rows } = await this.#pool.query<AuditRow>(sql, args);
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  /**
   * Walks the whole chain from the first row and names the first row that does not verify: `altered` (its content
   * no longer matches its hash), `missing` (a gap in the sequence), or `relinked` (its hash was recomputed after
   * an edit, so the next row no longer links to it).
   */
  async verify(): Promise<VerifyResult> {
    const client = await this.#pool.connect();
    try {
      let prev = genesisHash;
      let expectedSeq = 1;
      let count = 0;
      const batch = 5000;
      for (;;) {
        const { rows } = await client.query<AuditRow>(
          'SELECT seq, event_id, subject, event_type, payload, prev_hash, hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2',
          [expectedSeq, batch],
        );
        for (const r of rows) {
          const seq = Number(r.seq);
          const bad = (at: number, problem: 'altered' | 'missing' | 'relinked', message: string, row?: AuditRow): VerifyResult => ({
            ok: false,
            rows: count,
            lastSeq: expectedSeq - 1,
            firstBad: { seq: at, problem, message, ...(row ? { eventId: row.event_id, type: row.event_type } : {}) },
          });
          if (seq !== expectedSeq) return bad(expectedSeq, 'missing', `row ${expectedSeq} is missing (the next row present is ${seq})`);
          const record = { seq, eventId: r.event_id, subject: r.subject, payload: r.payload };
          if (chainHash(this.#key, prev, record) !== r.hash) {
            // intact against the link it recorded: the previous row was edited and re-hashed
            if (seq > 1 && r.prev_hash !== prev && chainHash(this.#key, r.prev_hash, record) === r.hash) {
              return bad(seq - 1, 'relinked', `row ${seq - 1} was altered and re-hashed: row ${seq} no longer links to it`);
            }
            return bad(seq, 'altered', `row ${seq} was altered: its content does not match its hash`, r);
          }
          prev = r.hash;
          expectedSeq += 1;
          count += 1;
        }
        if (rows.length < batch) break;
      }
      return { ok: true, rows: count, lastSeq: expectedSeq - 1 };
    } finally {
      client.release();
    }
  }
}
