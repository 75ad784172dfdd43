import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { freshDatabase } from '@airlock/testkit';
import { AuditStore, PartitionHeadMoved, migrateAudit, type IncomingEvent } from '../../src/index.js';

/**
 * Exactly-once appends on the real PostgreSQL: an id recorded already or repeated in a batch is skipped, whether the
 * batch was announced by the append before it (its ids looked up in that append's statement) or not, and a batch
 * announced on a head that then moved fails whole and is appended once when retried.
 */

const subject = 'airlock.evt.proxy.v1.query-completed';
const event = (id: string = randomUUID()): IncomingEvent => ({ subject, payload: { id, time: new Date().toISOString(), sessionId: 's', requestId: randomUUID(), rows: 1 }, streamSequence: 0 });
const idOf = (e: IncomingEvent) => (e.payload as { id: string }).id;

describe('audit appends: each event once', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;
  let key: Buffer;
  let first: AuditStore;
  let second: AuditStore;
  let reader: AuditStore;

  /** each event id recorded, with its partition, in seq order */
  const recorded = async () =>
    (await pool.query<{ event_id: string; partition: number }>('SELECT event_id, partition::int FROM audit_events ORDER BY seq')).rows.map((r) => `${r.partition}:${r.event_id}`);
  const intact = async (rows: number) => {
    const result = await reader.verify();
    assert.equal(result.ok, true, JSON.stringify(result.firstBad));
    assert.equal(result.rows, rows);
  };

  before(async () => {
    db = await freshDatabase('airlock_auditappend');
    pool = new pg.Pool({ connectionString: db.url, max: 6 });
    await migrateAudit(pool);
    key = randomBytes(32);
    first = new AuditStore(pool, key);
    second = new AuditStore(pool, key);
    reader = new AuditStore(pool, key);
    assert.equal(await first.partition(), 1);
    assert.equal(await second.partition(), 2);
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await pool?.end();
    await db?.drop();
  });

  it('appends only the fresh events of a batch that holds an id recorded already and an id twice', async () => {
    const [a, b, c, d] = [event(), event(), event(), event()];
    assert.equal(await first.appendBatch([a, b]), 2);
    assert.equal(await first.appendBatch([a, c, c, d]), 2);
    assert.deepEqual(await recorded(), [a, b, c, d].map((e) => `1:${idOf(e)}`));
    await intact(4);
  });

  it('skips them as well in a batch announced by the append before it', async () => {
    const before = await recorded();
    const [known, e, f, g] = [event(before[0]!.slice(2)), event(), event(), event()];
    // e is appended by the very statement that looks the announced batch up, so that look-up cannot see it yet
    const next = [known, e, f, f, g];
    assert.equal(await first.appendBatch([e], next), 1);
    assert.equal(await first.appendBatch(next), 2);
    assert.deepEqual(await recorded(), [...before, ...[e, f, g].map((x) => `1:${idOf(x)}`)]);
    await intact(7);
  });

  it('skips an announced event that another writer recorded meanwhile, and appends the rest once', async () => {
    const before = await recorded();
    const [h, i, j] = [event(), event(), event()];
    assert.equal(await first.appendBatch([h], [i, j]), 1);
    // redelivered to the other copy of the service, which records it first
    assert.equal(await second.appendBatch([i]), 1);
    assert.equal(await first.appendBatch([i, j]), 1);
    assert.deepEqual(await recorded(), [...before, `1:${idOf(h)}`, `2:${idOf(i)}`, `1:${idOf(j)}`]);
    await intact(10);
  });

  it('fails an announced batch whose head moved under its writer, and appends it once when retried', async () => {
    const before = await recorded();
    const [k, l, m] = [event(), event(), event()];
    assert.equal(await first.appendBatch([k], [l, m]), 1);
    // another writer appended to partition 1: its head is no longer the one the announced batch was to follow
    const owner = await pool.connect();
    try {
      await owner.query(`UPDATE audit_heads SET hash = $1 WHERE partition = 1`, ['e'.repeat(64)]);
    } finally {
      owner.release();
    }
    await assert.rejects(first.appendBatch([l, m]), PartitionHeadMoved);
    assert.deepEqual(await recorded(), [...before, `1:${idOf(k)}`]);
    assert.equal(await first.appendBatch([l, m]), 2);
    assert.equal(await first.partition(), 1);
    assert.deepEqual(await recorded(), [...before, ...[k, l, m].map((x) => `1:${idOf(x)}`)]);
    await intact(13);
  });

  it('appends as the writer role on a connection of its own, which is closed, never pooled again, when the writer stops', async () => {
    const before = await recorded();
    const n = event();
    // the test's own user may insert: only the writer role lacks the grant, so the append must run as that role
    await pool.query('REVOKE INSERT ON audit_events FROM airlock_audit_writer');
    try {
      await assert.rejects(first.appendBatch([n]), (e: { code?: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.equal(e.message, 'permission denied for table audit_events');
        return true;
      });
    } finally {
      await pool.query('GRANT INSERT ON audit_events TO airlock_audit_writer');
    }
    assert.deepEqual(await recorded(), before);
    assert.equal(await first.appendBatch([n]), 1);
    const open = pool.totalCount;
    await first.close();
    assert.equal(pool.totalCount, open - 1);
    assert.deepEqual(await recorded(), [...before, `1:${idOf(n)}`]);
    await intact(14);
  });
});

describe('audit appends on a log that grew from empty', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;
  let store: AuditStore;

  before(async () => {
    db = await freshDatabase('airlock_auditgrow');
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
    await migrateAudit(pool);
    store = new AuditStore(pool, randomBytes(32));
  });
  after(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  /**
   * Rows the table's sequential scans have read so far, as the writer's backend last reported them: a backend reports
   * its counts at the end of a transaction at most once a second, so one more append after a second's pause makes it
   * report everything before it.
   */
  const scanned = async () => {
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await store.appendBatch([event()]), 1);
    return Number((await pool.query<{ n: string }>("SELECT seq_tup_read AS n FROM pg_stat_user_tables WHERE relname = 'audit_events'")).rows[0]!.n);
  };

  it('looks the batch ids up by index, not by reading the whole table, after its plans were made on an empty table', async () => {
    // the writer's prepared statements are planned while the table is nearly empty, with no statistics gathered
    for (let i = 0; i < 12; i++) assert.equal(await store.appendBatch([event()]), 1);
    assert.equal(await store.appendBatch(Array.from({ length: 3000 }, () => event())), 3000);
    const before = await scanned();
    for (let i = 0; i < 20; i++) assert.equal(await store.appendBatch([event()], [event()]), 1);
    assert.equal((await scanned()) - before, 0);
    assert.equal((await store.verify()).ok, true);
  });
});
