import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { Bus, Signer, contextHeaders, createLogger, encodeJson, newContext, tokenKinds } from '@airlock/runtime';
import { deleteStream, eventually, freshDatabase, natsUrl, uniqueSuffix } from '@airlock/testkit';
import { AuditStore, Integrity, migrateAudit, startAudit, type Walk } from '../../src/index.js';
import { auditCommand } from '../../../../packages/cli/src/commands/audit.js';

/**
 * Verification of a log that is still being written: events appended, acknowledged and checkpointed while the table
 * is walked vouch for rows the walk did not reach. They must not be taken for a cut tail, nor counted as stream events
 * checked against rows the walk never saw.
 */

const logger = createLogger({ service: 'audit-test', level: 'warn' });
const event = (n: number) => ({ id: randomUUID(), time: new Date().toISOString(), sessionId: randomUUID(), requestId: randomUUID(), connection: 'demo', rows: n, command: 'SELECT 1' });

/** A reader whose walk is followed, before it returns, by whatever `afterWalk` does (the writer going on meanwhile). */
class WalkedWhileWritten extends AuditStore {
  afterWalk: (() => Promise<void>) | undefined;
  override async walk(options: { partition?: number } = {}): Promise<Walk> {
    const walked = await super.walk(options);
    const go = this.afterWalk;
    this.afterWalk = undefined;
    await go?.();
    return walked;
  }
}

describe('verifying an audit log while it is written', () => {
  const root = `auditlive${uniqueSuffix()}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const pools: pg.Pool[] = [];
  let writerBus: Bus;
  let bus: Bus;
  let writer: AuditStore;
  let reader: WalkedWhileWritten;
  let integrity: Integrity;

  const pool = () => {
    const p = new pg.Pool({ connectionString: db.url, max: 3 });
    pools.push(p);
    return p;
  };
  const rowCount = async () => Number((await pools[0]!.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]!.n);
  const ackFloor = async () => (await (await bus.js.jetstreamManager()).consumers.info(bus.streamName, 'airlock-audit')).ack_floor.stream_seq;
  /** publishes `n` events and resolves once the audit consumer acknowledged them all (so they are in the table) */
  const written = async (n: number) => {
    let last = 0;
    for (let i = 0; i < n; i++) {
      const payload = event(i);
      last = (await bus.js.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson(payload), { msgID: payload.id, headers: contextHeaders(newContext(payload.requestId)) })).seq;
    }
    await eventually(async () => ((await ackFloor()) >= last ? true : undefined), 30_000, 'the audit consumer acknowledged every event');
  };

  before(async () => {
    db = await freshDatabase('airlock_auditlive');
    const key = randomBytes(32);
    await migrateAudit(pool());
    writer = new AuditStore(pool(), key);
    reader = new WalkedWhileWritten(pool(), key);
    bus = await Bus.connect({ url: natsUrl, root, service: 'audit-test', logger });
    writerBus = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
    const signer = await Signer.load({ service: 'audit', env: { AIRLOCK_STATE_DIR: mkdtempSync(join(tmpdir(), 'airlock-auditlive-')) }, logger }, tokenKinds.checkpoint);
    integrity = new Integrity({ bus, store: reader, signer, logger, checkpointFile: join(mkdtempSync(join(tmpdir(), 'airlock-auditlive-')), 'checkpoints.jsonl'), durable: 'airlock-audit' });
    // the service's consumer, as the audit service runs it (its checkpoints are kept outside the log)
    await writerBus.consumeBatches(
      'airlock-audit',
      async (all, _working, next) => {
        const events = (batch: typeof all) =>
          batch.filter((e) => e.subject !== integrity.checkpointSubject).map((e) => ({ subject: e.subject, payload: e.payload, streamSequence: e.streamSequence }));
        await writer.appendBatch(events(all), events(next));
      },
      { maxBatch: 20, lookahead: true },
    );
  });
  after(async () => {
    await writerBus?.close();
    await writer?.close();
    await bus?.close();
    for (const p of pools) await p.end();
    await deleteStream(root);
    await db?.drop();
  });

  it('takes neither a checkpoint nor acknowledgements made during the walk for rows cut off', async () => {
    await written(40);
    assert.ok(await integrity.checkpoint(), 'a first checkpoint was written');
    const walkedRows = await rowCount();
    // right after the walk: 25 more events appended and acknowledged, and a checkpoint signed over them
    reader.afterWalk = async () => {
      await written(25);
      assert.ok(await integrity.checkpoint(), 'a checkpoint beyond the walk was written');
    };
    const during = await integrity.verify();
    assert.equal(during.ok, true, JSON.stringify(during.firstBad));
    assert.equal(during.rows, walkedRows);
    // what was acknowledged before the walk, and nothing after it (the checkpoint events are not recorded)
    assert.equal(during.streamEvents, 40);
    assert.equal(during.checkpoints, 1);
    // once quiet, the later rows, checkpoint and events are all checked
    const quiet = await integrity.verify();
    assert.equal(quiet.ok, true, JSON.stringify(quiet.firstBad));
    assert.equal(quiet.rows, 65);
    assert.equal(quiet.streamEvents, 65);
    assert.equal(quiet.checkpoints, 2);
  });

  it('tells a table written with another chain key from one written with its own', async () => {
    // what the audit service checks when it starts: a state folder made afresh over an old database has a new key
    assert.deepEqual(await new AuditStore(pools[0]!, randomBytes(32)).foreignHeads(), [1]);
    assert.deepEqual(await reader.foreignHeads(), []);
  });

  it('answers intact with the reason when the audit consumer does not exist, and checks no stream event', async () => {
    const lines = await pools[0]!.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
    const absent = new Integrity({
      bus,
      store: reader,
      signer: await Signer.load({ service: 'audit', env: { AIRLOCK_STATE_DIR: mkdtempSync(join(tmpdir(), 'airlock-auditlive-')) }, logger }, tokenKinds.checkpoint),
      logger,
      checkpointFile: join(mkdtempSync(join(tmpdir(), 'airlock-auditlive-')), 'checkpoints.jsonl'),
      durable: 'airlock-audit-absent',
    });
    const out = await absent.verify();
    assert.deepEqual(out, {
      ok: true,
      rows: Number(lines.rows[0]!.n),
      lastSeq: out.lastSeq,
      checkpoints: 0,
      streamUnavailable: `the audit consumer airlock-audit-absent does not exist on stream ${bus.streamName}`,
    });
  });
  it('does not take a consumer that acknowledged nothing, or reads only some subjects, for the audit consumer', async () => {
    const jsm = await bus.js.jetstreamManager();
    const rows = await rowCount();
    const under = async (durable: string) =>
      new Integrity({
        bus,
        store: reader,
        signer: await Signer.load({ service: 'audit', env: { AIRLOCK_STATE_DIR: mkdtempSync(join(tmpdir(), 'airlock-auditlive-')) }, logger }, tokenKinds.checkpoint),
        logger,
        checkpointFile: join(mkdtempSync(join(tmpdir(), 'airlock-auditlive-')), 'checkpoints.jsonl'),
        durable,
      }).verify();
    // as the audit service makes its own, but made again and not read yet
    await jsm.consumers.add(bus.streamName, { durable_name: 'airlock-audit-fresh', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: `${root}.evt.>` });
    const fresh = await under('airlock-audit-fresh');
    assert.equal(fresh.ok, true, JSON.stringify(fresh.firstBad));
    assert.equal(fresh.streamEvents, undefined);
    assert.equal(fresh.streamUnavailable, `the audit consumer airlock-audit-fresh has acknowledged no event yet while the table holds ${rows} rows (it was made again and is reading the stream from its start)`);
    // a consumer of one event type, acknowledging all up to a message, that has read everything it sees
    await jsm.consumers.add(bus.streamName, { durable_name: 'airlock-audit-partial', ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, filter_subject: `${root}.evt.identity.>` });
    const partial = await under('airlock-audit-partial');
    assert.equal(partial.streamEvents, undefined);
    assert.equal(partial.streamUnavailable, `the audit consumer airlock-audit-partial reads "${root}.evt.identity.>" with ack policy all, not every event ("${root}.evt.>") acknowledged one by one`);
  });

  it('finds the tail cut off after the last checkpoint, from the stream, while the log is being written', async () => {
    // recorded and acknowledged, and in no checkpoint: only the stream vouches for these
    await written(5);
    const intact = await integrity.verify();
    assert.equal(intact.ok, true, JSON.stringify(intact.firstBad));
    const { rows } = await pools[0]!.query<{ seq: string; event_id: string }>('SELECT seq, event_id FROM audit_events ORDER BY seq DESC LIMIT 1');
    const c = await pools[0]!.connect();
    try {
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
      await c.query('DELETE FROM audit_events WHERE seq = $1', [rows[0]!.seq]);
      await c.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    } finally {
      c.release();
    }
    reader.afterWalk = () => written(5);
    const cut = await integrity.verify();
    assert.equal(cut.ok, false);
    assert.equal(cut.firstBad?.problem, 'truncated');
    assert.equal(cut.firstBad?.eventId, rows[0]!.event_id);
    assert.match(cut.firstBad?.message ?? '', /^the table ends at row \d+ but the event stream holds later events it recorded, from event /);
  });
});

describe('an audit service whose durable consumer is removed while it runs', () => {
  const root = `auditgone${uniqueSuffix()}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;
  let bus: Bus;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  before(async () => {
    db = await freshDatabase('airlock_auditgone');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    bus = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
    const state = mkdtempSync(join(tmpdir(), 'airlock-auditgone-'));
    audit = await startAudit({
      bus,
      pool,
      logger,
      http: { host: '127.0.0.1', port: 0 },
      // the readers' tokens are the identity service's to verify: here one token stands for an auditor
      authenticate: async (token) => {
        if (token !== 'auditor-token') throw new Error('unknown token');
        return { subject: 'auditor-1', groups: ['auditors'] };
      },
      readerGroups: ['auditors'],
      chainKey: randomBytes(32),
      signer: await Signer.load({ service: 'audit', env: { AIRLOCK_STATE_DIR: state }, logger }, tokenKinds.checkpoint),
      checkpoint: { file: join(state, 'checkpoints.jsonl'), seconds: 3600 },
    });
  });
  after(async () => {
    await audit?.close();
    await bus?.close();
    await pool?.end();
    await deleteStream(root);
    await db?.drop();
  });

  it('makes the consumer again and records every event published after it was removed', async () => {
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const payload = event(i);
        await bus.js.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson(payload), { msgID: payload.id, headers: contextHeaders(newContext(payload.requestId)) });
      }
    };
    const rows = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]!.n);
    await publish(10);
    await eventually(async () => ((await rows()) === 10 ? true : undefined), 30_000, 'the audit service recorded every event');

    const jsm = await bus.js.jetstreamManager();
    await jsm.consumers.delete(bus.streamName, 'airlock-audit');
    await publish(5);
    // the server tells the reader its durable was deleted; without making it again nothing more would be recorded
    await eventually(async () => ((await rows()) === 15 ? true : undefined), 20_000, 'the events published after the consumer was removed recorded');
    const stream = (await jsm.streams.info(bus.streamName)).state.last_seq;
    await eventually(async () => ((await jsm.consumers.info(bus.streamName, 'airlock-audit')).ack_floor.stream_seq >= stream ? true : undefined), 20_000, 'the stream read again');
    // read again from the start, the first ten were handed over again and recorded once
    assert.equal(await rows(), 15);
    // a batch handed over again may leave sequence numbers unused (a gap in seq is not a missing row: the chain says so)
    const last = Number((await pool.query<{ m: string }>('SELECT max(seq) AS m FROM audit_events')).rows[0]!.m);
    const lines: string[] = [];
    const code = await auditCommand(['verify', '--token', 'auditor-token'], { AIRLOCK_AUDIT_URL: `http://127.0.0.1:${audit.port}` }, (l) => lines.push(l));
    assert.deepEqual({ code, lines }, {
      code: 0,
      lines: [`audit chain intact: 15 rows verified (last row ${last})`, 'checked against 1 signed checkpoint and 15 acknowledged events of the stream'],
    });
  });
});
