import type pg from 'pg';
import { migrate } from '@airlock/runtime';
import { canonicalJson, chainHash, chainHashOfCanonical, genesisHash } from '../canonical.js';

/**
 * The role every append runs under (`SET ROLE` on the writer's own connection, for its whole session): it may INSERT
 * and SELECT audit rows and nothing else, so a bug or an injected statement in the writer cannot UPDATE, DELETE or
 * TRUNCATE them even with the triggers disabled.
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
  {
    id: '003-partitions',
    // several writers, each appending to a partition of its own: one HMAC chain per partition, a sequence that orders
    // rows across partitions without a lock, and each partition's head as its writer last moved it (a writer appends
    // only on top of the head it read, so two writers can never fork one partition)
    sql: `ALTER TABLE audit_events ADD COLUMN partition smallint NOT NULL DEFAULT 1;
          CREATE INDEX audit_events_partition ON audit_events (partition, seq);
          CREATE SEQUENCE audit_events_seq AS bigint;
          SELECT setval('audit_events_seq', max(seq)) FROM audit_events HAVING max(seq) IS NOT NULL;
          CREATE TABLE audit_heads (partition smallint PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
          INSERT INTO audit_heads (partition, seq, hash) SELECT 1, seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1;
          GRANT USAGE ON SEQUENCE audit_events_seq TO ${writerRole};
          GRANT SELECT, INSERT, UPDATE ON audit_heads TO ${writerRole};`,
  },
];

export async function migrateAudit(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'audit', migrations);
}

export interface AuditRow {
  seq: number;
  /** the chain the row belongs to (1 for a log written by one writer) */
  partition: number;
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
  firstBad?: {
    seq: number;
    problem: 'altered' | 'missing' | 'relinked' | 'truncated' | 'checkpoint';
    message: string;
    eventId?: string;
    type?: string;
    /** the partition whose chain is broken, when the log has more than one */
    partition?: number;
  };
  /** each partition's rows and last row, when the log has more than one */
  partitions?: Array<{ partition: number; rows: number; lastSeq: number }>;
  /** signed checkpoints checked against the table, and events of the stream cross-checked */
  checkpoints?: number;
  streamEvents?: number;
  /** why the table could not be cross-checked against the event stream (the chain and checkpoints were still checked) */
  streamUnavailable?: string;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The id an event is recorded under: its own uuid, or one made of its stream sequence. */
export function eventIdOf(e: IncomingEvent): string {
  const id = typeof e.payload === 'object' && e.payload !== null ? (e.payload as Record<string, unknown>)['id'] : undefined;
  // a foreign publisher's event without a uuid still gets a stable id, so its redelivery stays a duplicate
  return typeof id === 'string' && uuid.test(id) ? id.toLowerCase() : `00000000-0000-4000-8000-${String(e.streamSequence).padStart(12, '0')}`;
}

/** The row columns of one event; the payload is stored exactly as received (made storable, never reinterpreted). */
export function toRecord(e: IncomingEvent) {
  const raw = typeof e.payload === 'object' && e.payload !== null && !Array.isArray(e.payload) ? (e.payload as Record<string, unknown>) : { undecodable: true, value: e.payload ?? null };
  let canonical = canonicalJson(raw);
  let payload = raw;
  // jsonb refuses NUL in strings: such a payload would block the chain forever, so NUL becomes U+FFFD before hashing
  if (canonical.includes('\\u0000')) {
    payload = JSON.parse(canonical.replaceAll('\\u0000', '\\ufffd')) as Record<string, unknown>;
    canonical = canonicalJson(payload);
  }
  const eventId = eventIdOf(e);
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
    /** the payload in canonical JSON: what the chain hashes, and what the table stores */
    canonical,
  };
}

/** The head of one partition's chain: its last row (seq 0 and the genesis hash when it has none). */
export interface PartitionHead {
  partition: number;
  seq: number;
  hash: string;
}

/** Partitions a writer may claim: enough for every copy of the service that may run at once. */
export const maxPartitions = 64;
const partitionLock = 'airlock-audit-partition';

/** Raised when a partition's head moved under its writer: another writer appended to it; the batch is retried. */
export class PartitionHeadMoved extends Error {
  constructor(partition: number) {
    super(`the head of audit partition ${partition} moved under its writer: another writer appended to it; the batch is retried on the new head`);
  }
}

interface Writer {
  partition: number;
  /**
   * holds the partition's session advisory lock for as long as this store writes it, and runs every append, under
   * the writer role for the whole session; it never goes back to the pool (destroyed when given up)
   */
  client: pg.PoolClient;
  /** the partition's head as this writer last committed it; undefined after a failed append (re-read first) */
  head: { seq: number; hash: string } | undefined;
  /** what the last append looked up for the batch announced to come next (see `appendBatch`) */
  prepared: Prepared | undefined;
  lost: boolean;
}

/** The ids of a batch announced to come next, those recorded already, and sequence numbers taken for it. */
interface Prepared {
  ids: string[];
  known: Set<string>;
  seqs: number[];
  /** the head the batch is to follow, and the ids of the batch before it (appended in the same statement as the look-up) */
  after: string;
  before: Set<string>;
}

/**
 * The append itself, one statement: moves the partition's head from the hash this writer holds (and only to a higher
 * seq), inserts the rows on top of it, and looks up the batch announced to come next: which of its ids are recorded,
 * and sequence numbers for it, taken now that its events are in hand (so `seq` keeps following arrival across
 * partitions, as when they are taken just before their own insert). A statement is atomic: it adds all rows or none,
 * and an id recorded already fails it on the unique index. Columns as arrays (one parameter each): PostgreSQL reads
 * them with less work than one JSON document of rows.
 */
const appendStatement = {
  name: 'audit-append',
  text: `WITH head AS (
           UPDATE audit_heads SET seq = $13, hash = $14
            WHERE partition = $12 AND hash = $15 AND seq < ($1::bigint[])[1]
           RETURNING 1),
         ins AS (
           INSERT INTO audit_events (seq, partition, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload, prev_hash, hash)
           SELECT seq, $12, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload::jsonb, prev_hash, hash
           FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
             AS t(seq, event_id, subject, event_type, event_time, request_id, session_id, subject_principal, payload, prev_hash, hash)
           WHERE EXISTS (SELECT 1 FROM head)
           RETURNING 1)
       SELECT (SELECT count(*) FROM ins)::int AS inserted,
              (SELECT array_agg(event_id::text) FROM audit_events WHERE event_id = ANY($16::uuid[])) AS known,
              (SELECT array_agg(nextval('audit_events_seq')) FROM generate_series(1, cardinality($16::uuid[])) WHERE EXISTS (SELECT 1 FROM head)) AS seqs`,
};

/** Which ids of a batch are recorded already, and a fresh sequence number for each event (one round trip). */
const lookupStatement = {
  name: 'audit-lookup',
  text: `SELECT (SELECT array_agg(event_id::text) FROM audit_events WHERE event_id = ANY($1::uuid[])) AS known,
                (SELECT array_agg(nextval('audit_events_seq')) FROM generate_series(1, cardinality($1::uuid[]))) AS seqs`,
};

/** SQLSTATE of a unique index refusing a row: here, an event id recorded already */
const uniqueViolation = '23505';

type AppendRecord = ReturnType<typeof toRecord>;

/** The records in order, each id once (its first occurrence). */
function distinct(records: AppendRecord[]): AppendRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => !seen.has(r.eventId) && !!seen.add(r.eventId));
}

function sameIds(ids: readonly string[], records: readonly AppendRecord[]): boolean {
  return ids.length === records.length && records.every((r, i) => r.eventId === ids[i]);
}

/** What walking the rows found: the result, and the last row verified in each partition. */
export interface Walk {
  result: VerifyResult;
  heads: Map<number, { seq: number; hash: string; rows: number }>;
  partitions: number[];
  /** whether the log has more than its first partition: then every problem names its partition */
  several: boolean;
}

/**
 * The append-only, hash-chained audit table, in partitions: each writer (each copy of the service) claims a partition
 * of its own and appends to its chain without any lock shared with the other writers, keeping its head in memory.
 */
export class AuditStore {
  readonly #pool: pg.Pool;
  readonly #key: Buffer;
  #writer: Writer | undefined;
  #claiming: Promise<Writer> | undefined;
  #closed = false;
  /** `key`: the chain's HMAC key, held by the audit service alone */
  constructor(pool: pg.Pool, key: Buffer) {
    this.#pool = pool;
    this.#key = key;
  }

  /** Appends an event once: a second append of the same event id is a no-op. Returns false for a duplicate. */
  async append(subject: string, payload: Record<string, unknown>, streamSequence = 0): Promise<boolean> {
    return (await this.appendBatch([{ subject, payload, streamSequence }])) === 1;
  }

  /** The partition this store writes, claimed on first use (the lowest one no other writer holds). */
  async partition(): Promise<number> {
    return (await this.#claim()).partition;
  }

  async #claim(): Promise<Writer> {
    if (this.#closed) throw new Error('the audit store is closed: the batch is left to be delivered again');
    if (this.#writer && !this.#writer.lost) return this.#writer;
    this.#claiming ??= (async () => {
      const old = this.#writer;
      this.#writer = undefined;
      if (old) {
        // given up explicitly while the connection still works: a destroyed connection's backend may hold the lock a
        // moment longer, and this writer would then claim another partition than the one it just left
        await old.client.query('SELECT pg_advisory_unlock(hashtext($1), $2)', [partitionLock, old.partition]).catch(() => undefined);
        old.client.release(true);
      }
      const client = await this.#pool.connect();
      try {
        for (let p = 1; p <= maxPartitions; p++) {
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), $2) AS ok', [partitionLock, p]);
          if (!rows[0]!.ok) continue;
          // for the whole session: this connection runs nothing but this writer's appends, and is destroyed, never
          // pooled again, when the writer gives it up
          await client.query(`SET ROLE ${writerRole}`);
          // Every statement of this connection finds rows by a unique key. Its prepared statements keep the plan
          // PostgreSQL chose when the table was nearly empty, and with statistics not yet gathered (autovacuum off or
          // behind) that plan scanned the whole table for the batch's ids, on every append, slower as the log grew.
          await client.query('SET enable_seqscan = off');
          const writer: Writer = { partition: p, client, head: undefined, prepared: undefined, lost: false };
          // a claim lives as long as its connection: once that is gone another writer may take the partition
          client.on('error', () => void (writer.lost = true));
          return (this.#writer = writer);
        }
        throw new Error(`all ${maxPartitions} audit partitions are held by other writers`);
      } catch (err) {
        client.release(true);
        throw err;
      }
    })().finally(() => (this.#claiming = undefined));
    return this.#claiming;
  }

  /** Re-reads a partition's head from its rows and makes `audit_heads` agree, so the next append links to it. */
  async #readHead(client: pg.PoolClient, partition: number): Promise<{ seq: number; hash: string }> {
    const { rows } = await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events WHERE partition = $1 ORDER BY seq DESC LIMIT 1', [partition]);
    const head = { seq: Number(rows[0]?.seq ?? 0), hash: rows[0]?.hash ?? genesisHash };
    await client.query(
      `INSERT INTO audit_heads (partition, seq, hash) VALUES ($1, $2, $3)
       ON CONFLICT (partition) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`,
      [partition, head.seq, head.hash],
    );
    return head;
  }

  /**
   * Appends events in the given order to this writer's partition, skipping any whose id is already recorded (or
   * repeated in the batch). Runs as the writer role, on the writer's own connection, in one statement. Returns how many
   * rows were added; when it resolves they are durable.
   *
   * `upcoming`: the batch the caller will append next, when it already holds it. Its ids are looked up and its sequence
   * numbers taken in this append's statement, so that its own append is a single round trip. Otherwise (or when the
   * batch differs from the one announced) an append first looks its ids up and takes numbers: two round trips.
   */
  async appendBatch(events: readonly IncomingEvent[], upcoming: readonly IncomingEvent[] = []): Promise<number> {
    if (events.length === 0) return 0;
    const records = distinct(events.map(toRecord));
    const writer = await this.#claim();
    const prepared = writer.prepared;
    writer.prepared = undefined;
    try {
      writer.head ??= await this.#readHead(writer.client, writer.partition);
      const next = [...new Set(upcoming.map(eventIdOf))];
      if (prepared && prepared.after === writer.head.hash && sameIds(prepared.ids, records)) {
        const fresh = records.filter((r) => !prepared.known.has(r.eventId) && !prepared.before.has(r.eventId));
        if (fresh.length === 0) return 0;
        try {
          await this.#insert(writer, fresh, prepared.seqs, next);
          return fresh.length;
        } catch (err) {
          // recorded meanwhile by another writer (an event redelivered to it): looked up afresh below
          if ((err as { code?: string }).code !== uniqueViolation) throw err;
        }
      }
      // which ids are recorded, and a number for each event (a redelivered duplicate leaves its number unused: a gap
      // in seq is not a missing row, the chain says which is)
      const { rows } = await writer.client.query<{ known: string[] | null; seqs: string[] }>({ ...lookupStatement, values: [records.map((r) => r.eventId)] });
      const known = new Set(rows[0]!.known ?? []);
      const fresh = records.filter((r) => !known.has(r.eventId));
      if (fresh.length === 0) return 0;
      await this.#insert(writer, fresh, rows[0]!.seqs.map(Number), next);
      return fresh.length;
    } catch (err) {
      // whatever failed, the next append starts from the head as the table holds it; a head moved by another writer
      // means this one no longer holds its partition alone, so it claims one afresh
      writer.head = undefined;
      writer.prepared = undefined;
      if (err instanceof PartitionHeadMoved) writer.lost = true;
      throw err;
    }
  }

  /**
   * Hashes `records` on top of the writer's head with these sequence numbers and runs the append statement, which
   * also looks up the ids `next`. Throws PartitionHeadMoved when the head is not the writer's.
   */
  async #insert(writer: Writer, records: readonly AppendRecord[], seqs: readonly number[], next: string[]): Promise<void> {
    const partition = writer.partition;
    const head = writer.head!;
    let prev = head.hash;
    const cols = { prev: [] as string[], hash: [] as string[] };
    for (const [i, r] of records.entries()) {
      const hash = chainHashOfCanonical(this.#key, prev, seqs[i]!, partition, r.eventId, r.subject, r.canonical);
      cols.prev.push(prev);
      cols.hash.push(hash);
      prev = hash;
    }
    const last = { seq: seqs[records.length - 1]!, hash: prev };
    const { rows } = await writer.client.query<{ inserted: number; known: string[] | null; seqs: string[] | null }>({
      ...appendStatement,
      values: [
        seqs.slice(0, records.length),
        records.map((r) => r.eventId),
        records.map((r) => r.subject),
        records.map((r) => r.eventType),
        records.map((r) => r.time),
        records.map((r) => r.requestId),
        records.map((r) => r.sessionId),
        records.map((r) => r.principal),
        records.map((r) => r.canonical),
        cols.prev,
        cols.hash,
        partition,
        last.seq,
        last.hash,
        head.hash,
        next,
      ],
    });
    if (rows[0]!.inserted !== records.length) throw new PartitionHeadMoved(partition);
    writer.head = last;
    if (next.length > 0) {
      writer.prepared = {
        ids: next,
        known: new Set(rows[0]!.known ?? []),
        seqs: (rows[0]!.seqs ?? []).map(Number),
        after: last.hash,
        // the statement's look-up saw the table as it was before its own rows
        before: new Set(records.map((r) => r.eventId)),
      };
    }
  }

  /** Gives up this store's partition, so another writer may claim it. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#claiming?.catch(() => undefined);
    const w = this.#writer;
    this.#writer = undefined;
    if (!w) return;
    await w.client.query('SELECT pg_advisory_unlock(hashtext($1), $2)', [partitionLock, w.partition]).catch(() => undefined);
    // still the writer role: never handed to anyone else
    w.client.release(true);
  }

  /** The partitions that hold rows, or that a writer registered, in order. */
  async partitions(): Promise<number[]> {
    // a loose index scan: one probe per partition, however many rows each holds
    const { rows } = await this.#pool.query<{ p: number }>(
      `WITH RECURSIVE p AS (
         SELECT min(partition) AS v FROM audit_events
         UNION ALL SELECT (SELECT min(partition) FROM audit_events WHERE partition > p.v) FROM p WHERE p.v IS NOT NULL)
       SELECT v AS p FROM p WHERE v IS NOT NULL UNION SELECT partition FROM audit_heads ORDER BY 1`,
    );
    return rows.map((r) => Number(r.p));
  }

  /** The head of every partition, from its rows (a partition without rows is left out). */
  async heads(): Promise<PartitionHead[]> {
    const parts = await this.partitions();
    const { rows } = await this.#pool.query<{ partition: number; seq: string; hash: string }>(
      `SELECT p AS partition, h.seq, h.hash FROM unnest($1::smallint[]) AS p
         CROSS JOIN LATERAL (SELECT seq, hash FROM audit_events WHERE partition = p ORDER BY seq DESC LIMIT 1) h ORDER BY p`,
      [parts],
    );
    return rows.map((r) => ({ partition: Number(r.partition), seq: Number(r.seq), hash: r.hash }));
  }

  /**
   * The partitions whose last row does not match its hash under this store's key: a table written with another chain
   * key (a key lost, or a state folder made afresh over an old database), which `verify` would name as altered.
   */
  async foreignHeads(): Promise<number[]> {
    const { rows } = await this.#pool.query<AuditRow>(
      `SELECT h.* FROM unnest($1::smallint[]) AS p
         CROSS JOIN LATERAL (SELECT * FROM audit_events WHERE partition = p ORDER BY seq DESC LIMIT 1) h ORDER BY h.partition`,
      [await this.partitions()],
    );
    return rows
      .filter((r) => chainHash(this.#key, r.prev_hash, { seq: Number(r.seq), partition: Number(r.partition), eventId: r.event_id, subject: r.subject, payload: r.payload }) !== r.hash)
      .map((r) => Number(r.partition));
  }

  /** The head of the log: its last row and hash (seq 0 when empty). */
  async head(): Promise<{ seq: number; hash: string }> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    return { seq: Number(rows[0]?.seq ?? 0), hash: rows[0]?.hash ?? genesisHash };
  }

  /** The rows of these event ids, for the cross-check against the stream. */
  async byEventIds(ids: readonly string[]): Promise<Map<string, AuditRow>> {
    const { rows } = await this.#pool.query<AuditRow>('SELECT seq, partition, event_id, subject, event_type, payload, hash FROM audit_events WHERE event_id = ANY($1::uuid[])', [ids]);
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
   * Walks the rows in `seq` order (all partitions, or one) and names the first row that does not verify: `altered`
   * (its content no longer matches its keyed hash), `missing` (it links to a row its partition no longer holds), or
   * `relinked` (the row before it in its partition was replaced, so it no longer links to it).
   */
  async verify(options: { partition?: number } = {}): Promise<VerifyResult> {
    const { result, heads, several } = await this.walk(options);
    if (!result.ok || !several) return result;
    return { ...result, partitions: [...heads].map(([partition, h]) => ({ partition, rows: h.rows, lastSeq: h.seq })) };
  }

  /** `verify`, with the last row verified in each partition (what checkpoints are checked against). */
  async walk(options: { partition?: number } = {}): Promise<Walk> {
    const partitions = await this.partitions();
    // a log of one partition reads as the single chain it was before partitions; otherwise every problem names its partition
    const several = partitions.some((p) => p !== 1) || (options.partition ?? 1) !== 1;
    const of = (p: number) => (several ? ` of partition ${p}` : '');
    const heads = new Map<number, { seq: number; hash: string; rows: number }>();
    const client = await this.#pool.connect();
    try {
      let count = 0;
      let lastSeq = 0;
      const batch = 5000;
      for (;;) {
        const args: unknown[] = [lastSeq, batch];
        if (options.partition !== undefined) args.push(options.partition);
        const { rows } = await client.query<AuditRow & { partition: number }>(
          `SELECT seq, partition, event_id, subject, event_type, payload, prev_hash, hash FROM audit_events
            WHERE seq > $1 ${options.partition !== undefined ? 'AND partition = $3' : ''} ORDER BY seq LIMIT $2`,
          args,
        );
        for (const r of rows) {
          const seq = Number(r.seq);
          const p = Number(r.partition);
          const head = heads.get(p) ?? { seq: 0, hash: genesisHash, rows: 0 };
          const bad = (at: number, problem: 'altered' | 'missing' | 'relinked', message: string, row?: AuditRow): Walk => ({
            result: {
              ok: false,
              rows: count,
              lastSeq,
              firstBad: { seq: at, problem, message, ...(row ? { eventId: row.event_id, type: row.event_type } : {}), ...(several ? { partition: p } : {}) },
            },
            heads,
            partitions,
            several,
          });
          const record = { seq, partition: p, eventId: r.event_id, subject: r.subject, payload: r.payload };
          if (chainHash(this.#key, head.hash, record) !== r.hash) {
            if (r.prev_hash !== head.hash && chainHash(this.#key, r.prev_hash, record) === r.hash) {
              // intact against the link it recorded: the row it links to is not the one before it in its partition
              if (head.seq === seq - 1) return bad(seq - 1, 'relinked', `row ${seq - 1}${of(p)} was altered and re-hashed: row ${seq} no longer links to it`);
              return bad(
                head.seq + 1,
                'missing',
                several
                  ? `a row of partition ${p} is missing between row ${head.seq} and row ${seq}: row ${seq} links to a row the table no longer holds`
                  : `row ${head.seq + 1} is missing (the next row present is ${seq})`,
              );
            }
            return bad(seq, 'altered', `row ${seq}${of(p)} was altered: its content does not match its hash`, r);
          }
          heads.set(p, { seq, hash: r.hash, rows: head.rows + 1 });
          lastSeq = seq;
          count += 1;
        }
        if (rows.length < batch) break;
      }
      return { result: { ok: true, rows: count, lastSeq }, heads, partitions, several };
    } finally {
      client.release();
    }
  }
}
