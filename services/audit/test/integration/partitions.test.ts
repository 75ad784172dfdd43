import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Bus, Signer, contextHeaders, createLogger, encodeJson, newContext, tokenKinds } from '@airlock/runtime';
import { deleteStream, eventually, freshDatabase, natsUrl, uniqueSuffix } from '@airlock/testkit';
import { AuditStore, Integrity, PartitionHeadMoved, migrateAudit, type VerifyResult } from '../../src/index.js';

/**
 * Two writers, each appending to a partition of its own: every partition is its own keyed chain, verified on its own
 * and together, and a row edited, deleted, reordered, inserted or cut off in partition 2 is found and named there.
 */

interface Row {
  seq: number;
  partition: number;
  event_id: string;
  subject: string;
  event_type: string;
  payload: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const logger = createLogger({ service: 'audit-test', level: 'warn' });
const subject = (root: string) => `${root}.evt.proxy.v1.query-completed`;
const event = (n: number, sessionId = randomUUID()) => ({ id: randomUUID(), time: new Date().toISOString(), sessionId, requestId: randomUUID(), connection: 'demo', rows: n, command: 'SELECT 1' });

describe('an audit log in partitions, one per writer', () => {
  const root = `auditp${uniqueSuffix()}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pools: pg.Pool[] = [];
  let bus: Bus;
  let key: Buffer;
  let first: AuditStore;
  let second: AuditStore;
  let reader: AuditStore;
  let integrity: Integrity;

  const pool = () => {
    const p = new pg.Pool({ connectionString: db.url, max: 3 });
    pools.push(p);
    return p;
  };
  const rows = async (where = 'true') =>
    (await pools[0]!.query<Row>(`SELECT seq::int, partition::int, event_id, subject, event_type, payload, prev_hash, hash FROM audit_events WHERE ${where} ORDER BY seq`)).rows;
  /** as whoever holds the database's owner role: with the triggers off */
  const tamper = async (fn: (c: pg.PoolClient) => Promise<unknown>) => {
    const c = await pools[0]!.connect();
    try {
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
      await fn(c);
    } finally {
      await c.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
      c.release();
    }
  };
  /** puts rows back exactly as they were */
  const restore = (saved: Row[]) =>
    tamper(async (c) => {
      await c.query('DELETE FROM audit_events WHERE seq = ANY($1::bigint[])', [saved.map((r) => r.seq)]);
      for (const r of saved) {
        await c.query(
          `INSERT INTO audit_events (seq, partition, event_id, subject, event_type, event_time, payload, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, now(), $6::jsonb, $7, $8)`,
          [r.seq, r.partition, r.event_id, r.subject, r.event_type, JSON.stringify(r.payload), r.prev_hash, r.hash],
        );
      }
    });
  const intact = async () => {
    const all = await rows();
    const result = await reader.verify();
    assert.equal(result.ok, true, JSON.stringify(result.firstBad));
    assert.equal(result.rows, all.length);
    return result;
  };

  before(async () => {
    db = await freshDatabase('airlock_auditp');
    key = randomBytes(32);
    const migrating = pool();
    await migrateAudit(migrating);
    first = new AuditStore(pool(), key);
    second = new AuditStore(pool(), key);
    reader = new AuditStore(pool(), key);
    bus = await Bus.connect({ url: natsUrl, root, service: 'audit-test', logger });
    const signer = await Signer.load({ service: 'audit', env: { AIRLOCK_STATE_DIR: mkdtempSync(join(tmpdir(), 'airlock-auditp-')) }, logger }, tokenKinds.checkpoint);
    integrity = new Integrity({ bus, store: reader, signer, logger, checkpointFile: join(mkdtempSync(join(tmpdir(), 'airlock-auditp-')), 'checkpoints.jsonl'), durable: 'airlock-audit' });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await bus?.close();
    for (const p of pools) await p.end();
    await deleteStream(root);
    await db?.drop();
  });

  it('gives each writer a partition of its own, and the first one free to a writer that starts later', async () => {
    assert.equal(await first.partition(), 1);
    assert.equal(await second.partition(), 2);
    const third = new AuditStore(pool(), key);
    assert.equal(await third.partition(), 3);
    await third.close();
    const fourth = new AuditStore(pool(), key);
    assert.equal(await fourth.partition(), 3);
    await fourth.close();
  });

  it('appends each writer to its own chain and verifies each partition alone and all together', async () => {
    for (let b = 0; b < 6; b++) {
      assert.equal(await first.appendBatch(Array.from({ length: 5 }, (_, i) => ({ subject: subject(root), payload: event(b * 10 + i), streamSequence: 0 }))), 5);
      assert.equal(await second.appendBatch(Array.from({ length: 5 }, (_, i) => ({ subject: subject(root), payload: event(b * 10 + 5 + i), streamSequence: 0 }))), 5);
    }
    const all = await rows();
    assert.equal(all.length, 60);
    assert.deepEqual(
      all.map((r) => r.partition),
      Array.from({ length: 60 }, (_, i) => (Math.floor(i / 5) % 2 === 0 ? 1 : 2)),
    );
    // each partition links only to its own rows, from its own start
    for (const p of [1, 2]) {
      const mine = all.filter((r) => r.partition === p);
      assert.equal(mine[0]!.prev_hash, '0'.repeat(64));
      for (let i = 1; i < mine.length; i++) assert.equal(mine[i]!.prev_hash, mine[i - 1]!.hash);
    }
    const result = await intact();
    assert.deepEqual(result, {
      ok: true,
      rows: 60,
      lastSeq: all.at(-1)!.seq,
      partitions: [
        { partition: 1, rows: 30, lastSeq: all.filter((r) => r.partition === 1).at(-1)!.seq },
        { partition: 2, rows: 30, lastSeq: all.at(-1)!.seq },
      ],
    });
    assert.deepEqual(await reader.verify({ partition: 2 }), {
      ok: true,
      rows: 30,
      lastSeq: all.at(-1)!.seq,
      partitions: [{ partition: 2, rows: 30, lastSeq: all.at(-1)!.seq }],
    });
    // a redelivered event is recorded once, whichever writer sees it again
    assert.equal(await first.append(subject(root), all.find((r) => r.partition === 2)!.payload), false);
    assert.equal((await rows()).length, 60);
  });

  it('names a row of partition 2 edited, and partition 1 still verifies on its own', async () => {
    const target = (await rows('partition = 2'))[7]!;
    await tamper((c) => c.query(`UPDATE audit_events SET payload = jsonb_set(payload, '{rows}', '0') WHERE seq = $1`, [target.seq]));
    const expected: VerifyResult['firstBad'] = {
      seq: target.seq,
      problem: 'altered',
      message: `row ${target.seq} of partition 2 was altered: its content does not match its hash`,
      eventId: target.event_id,
      type: 'proxy.v1.query-completed',
      partition: 2,
    };
    assert.deepEqual((await reader.verify()).firstBad, expected);
    assert.deepEqual((await reader.verify({ partition: 2 })).firstBad, expected);
    assert.equal((await reader.verify({ partition: 1 })).ok, true);
    await restore([target]);
    await intact();
  });

  it('names a row of partition 2 deleted, between the rows of partition 2 around it', async () => {
    const mine = await rows('partition = 2');
    const [before, gone, next] = [mine[11]!, mine[12]!, mine[13]!];
    await tamper((c) => c.query('DELETE FROM audit_events WHERE seq = $1', [gone.seq]));
    assert.deepEqual((await reader.verify()).firstBad, {
      seq: before.seq + 1,
      problem: 'missing',
      message: `a row of partition 2 is missing between row ${before.seq} and row ${next.seq}: row ${next.seq} links to a row the table no longer holds`,
      partition: 2,
    });
    assert.equal((await reader.verify({ partition: 1 })).ok, true);
    await restore([gone]);
    await intact();
  });

  it('names rows of partition 2 put in another order', async () => {
    const mine = await rows('partition = 2');
    const [a, b] = [mine[20]!, mine[21]!];
    // the two rows swap places: each takes the other's position in the sequence
    await tamper(async (c) => {
      await c.query('UPDATE audit_events SET seq = -1 WHERE seq = $1', [a.seq]);
      await c.query('UPDATE audit_events SET seq = $1 WHERE seq = $2', [a.seq, b.seq]);
      await c.query('UPDATE audit_events SET seq = $1 WHERE seq = -1', [b.seq]);
    });
    const bad = (await reader.verify()).firstBad!;
    assert.deepEqual([bad.seq, bad.problem, bad.partition, bad.eventId], [a.seq, 'altered', 2, b.event_id]);
    await restore([a, b]);
    await intact();
  });

  it('names a row inserted into partition 2, even one copied from partition 1 with its valid hash', async () => {
    const one = (await rows('partition = 1'))[3]!;
    const mine = await rows('partition = 2');
    const seq = (await rows()).at(-1)!.seq + 1;
    await tamper((c) =>
      c.query(
        `INSERT INTO audit_events (seq, partition, event_id, subject, event_type, event_time, payload, prev_hash, hash)
         VALUES ($1, 2, $2, $3, $4, now(), $5::jsonb, $6, $7)`,
        [seq, randomUUID(), one.subject, one.event_type, JSON.stringify(one.payload), mine.at(-1)!.hash, one.hash],
      ),
    );
    const bad = (await reader.verify()).firstBad!;
    assert.deepEqual([bad.seq, bad.problem, bad.partition, bad.message], [seq, 'altered', 2, `row ${seq} of partition 2 was altered: its content does not match its hash`]);
    await tamper((c) => c.query('DELETE FROM audit_events WHERE seq = $1', [seq]));
    await intact();
  });

  it('ties the partitions together in signed checkpoints, which name the tail cut off partition 2', async () => {
    const line = await integrity.checkpoint();
    const all = await rows();
    const heads = [1, 2].map((p) => {
      const last = all.filter((r) => r.partition === p).at(-1)!;
      return { partition: p, seq: last.seq, hash: last.hash };
    });
    assert.deepEqual(line && { seq: line.seq, hash: line.hash, partitions: line.partitions }, { seq: all.at(-1)!.seq, hash: all.at(-1)!.hash, partitions: heads });
    assert.equal((await integrity.verify()).ok, true);
    const cut = (await rows('partition = 2')).slice(-3);
    const end = (await rows('partition = 2')).at(-4)!.seq;
    await tamper((c) => c.query('DELETE FROM audit_events WHERE seq = ANY($1::bigint[])', [cut.map((r) => r.seq)]));
    // the rows left are intact: only what lies outside the table can tell that partition 2 was longer
    assert.equal((await reader.verify()).ok, true);
    const out = await integrity.verify();
    assert.equal(out.ok, false);
    assert.match(
      out.firstBad!.message,
      new RegExp(`^partition 2 ends at row ${end} but the checkpoint signed at \\S+ vouches for its row ${heads[1]!.seq}: rows of partition 2 after row ${end} were removed$`),
    );
    assert.deepEqual([out.firstBad!.seq, out.firstBad!.problem, out.firstBad!.partition], [end + 1, 'truncated', 2]);
    assert.equal((await integrity.verify({ partition: 1 })).ok, true);
    assert.equal((await integrity.verify({ partition: 2 })).firstBad?.problem, 'truncated');
    await restore(cut);
    assert.equal((await integrity.verify()).ok, true);
  });

  it('writes nothing on a head that moved under its writer, then goes on from the head the table holds', async () => {
    const before = (await rows()).length;
    await tamper((c) => c.query(`UPDATE audit_heads SET hash = $1 WHERE partition = 2`, ['e'.repeat(64)]));
    await assert.rejects(second.appendBatch([{ subject: subject(root), payload: event(1), streamSequence: 0 }]), PartitionHeadMoved);
    assert.equal((await rows()).length, before);
    assert.equal(await second.appendBatch([{ subject: subject(root), payload: event(2), streamSequence: 0 }]), 1);
    assert.equal(await second.partition(), 2);
    await intact();
  });

  it('drains one durable consumer with two writers on the real stream: every event once, every partition intact', async () => {
    const before = (await rows()).length;
    const buses = [await Bus.connect({ url: natsUrl, root, service: 'audit', logger }), await Bus.connect({ url: natsUrl, root, service: 'audit', logger })];
    try {
      for (const [i, store] of [first, second].entries()) {
        await buses[i]!.consumeBatches(
          'airlock-audit',
          async (all, _working, next) => {
            // as the service does: the log's own checkpoints (one was published above) are kept outside it, and the
            // batch that follows, when it has arrived, is announced
            const events = (batch: typeof all) =>
              batch.filter((e) => e.subject !== integrity.checkpointSubject).map((e) => ({ subject: e.subject, payload: e.payload, streamSequence: e.streamSequence }));
            await store.appendBatch(events(all), events(next));
          },
          { maxBatch: 20, lookahead: true },
        );
      }
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) {
        const payload = event(i);
        ids.push(payload.id);
        await bus.js.publish(subject(root), encodeJson(payload), { msgID: payload.id, headers: contextHeaders(newContext(payload.requestId)) });
      }
      await eventually(async () => ((await rows()).length >= before + 300 ? true : undefined), 30_000, 'both writers drained the stream');
      const recorded = (await rows()).slice(before);
      assert.deepEqual(recorded.map((r) => r.event_id).sort(), [...ids].sort());
      assert.ok(recorded.every((r) => r.partition === 1 || r.partition === 2));
    } finally {
      for (const b of buses) await b.close();
    }
    const out = await integrity.verify();
    assert.equal(out.ok, true, JSON.stringify(out.firstBad));
    assert.equal(out.streamEvents, 300);
  });
});
