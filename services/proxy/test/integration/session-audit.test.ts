import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { policyV1, proxyV1 } from '@airlock/contracts';
import { Bus, EventPublisher, createLogger, decodeJson, newContext } from '@airlock/runtime';
import { deleteStream, natsUrl, uniqueSuffix } from '@airlock/testkit';
import { SessionAudit } from '../../src/core/audit.js';
import type { ClientError } from '../../src/core/errors.js';

/**
 * A session's records over the real NATS stream: a read that ends at once has its end as its only record (carrying
 * its reused decision); a read that sends rows before its end, runs longer than the hold, or outlives its session has
 * its start written; anything else has its start written before it runs.
 */
describe('SessionAudit records', () => {
  const logger = createLogger({ service: 'session-audit-test', level: 'silent' });
  const root = `t${uniqueSuffix()}`;
  let bus: Bus;
  let jsm: JetStreamManager;
  let events: EventPublisher;
  let read = 0;
  const decision = (...kinds: string[]) => ({ outcome: 'allow', rule: 'analysts-read', approval: null, analysis: { kinds } }) as unknown as policyV1.Decision;
  const reused: proxyV1.ReusedDecision = { requestId: 'r-first', outcome: 'allow', rule: 'analysts-read', statementDigest: 'd1' };
  const result = { leaseId: 'l-1', command: 'SELECT 1', rows: 1, bytes: 3, maskedCells: 0, detected: {}, durationMs: 1 };
  /** the events stored since the last call: [event, requestId, reused request] */
  const recorded = async () => {
    const { messages } = (await jsm.streams.info(bus.streamName)).state;
    const out: Array<[string, string | undefined, string | undefined]> = [];
    for (let seq = read + 1; seq <= messages; seq++) {
      const m = (await jsm.streams.getMessage(bus.streamName, { seq }))!;
      const p = decodeJson(m.data) as { requestId?: string; reused?: { requestId: string } };
      out.push([m.subject.slice(`${root}.evt.proxy.v1.`.length), p.requestId, p.reused?.requestId]);
    }
    read = messages;
    return out;
  };
  const session = async () => {
    const audit = new SessionAudit(events, `s-${uniqueSuffix()}`, 'demo', undefined);
    audit.onSessionStart({ principal: { subject: 'agent-1', issuer: 'https://issuer.example', groups: ['analysts'] }, frontend: 'pgwire', client: undefined, proxy: 'p-1' });
    await events.flush(5000);
    await recorded();
    return audit;
  };

  before(async () => {
    bus = await Bus.connect({ url: natsUrl, root, service: 'proxy', logger });
    await bus.ensureStream();
    jsm = await jetstreamManager(bus.nc);
    events = new EventPublisher(bus, logger);
  });
  after(async () => {
    await events?.flush(1000);
    await bus?.close();
    await deleteStream(root);
  });

  it('records a read that ends at once by its end alone, which names the reused decision', async () => {
    const audit = await session();
    audit.onQuery('r-1', 'l-1', decision('select'), newContext('r-1'), reused);
    await audit.onResult('r-1', result, decision('select'), newContext('r-1'));
    audit.onQuery('r-2', 'l-1', decision('show'), newContext('r-2'));
    await audit.onResult('r-2', { ...result, command: 'SHOW' }, decision('show'), newContext('r-2'));
    assert.deepEqual(await recorded(), [
      ['query-completed', 'r-1', 'r-first'],
      ['query-completed', 'r-2', undefined],
    ]);
  });

  it('records the start of anything but a read before it runs, and never on its end', async () => {
    const audit = await session();
    for (const [id, kinds] of [['w-1', ['update']], ['w-2', ['select', 'delete']], ['w-3', ['ddl']], ['w-4', ['set']], ['w-5', []]] as const) {
      audit.onQuery(id, 'l-1', decision(...kinds), newContext(id), reused);
      await events.flush(5000);
      assert.deepEqual(await recorded(), [['query-started', id, 'r-first']], id);
      await audit.onResult(id, result, decision(...kinds), newContext(id));
      assert.deepEqual(await recorded(), [['query-completed', id, undefined]], id);
    }
  });

  it('records the start of a read before rows reach its client ahead of its end', async () => {
    const audit = await session();
    audit.onQuery('r-3', 'l-1', decision('select'), newContext('r-3'), reused);
    audit.onRowsSent('r-3');
    audit.onRowsSent('r-3');
    await audit.onResult('r-3', result, decision('select'), newContext('r-3'));
    assert.deepEqual(await recorded(), [
      ['query-started', 'r-3', 'r-first'],
      ['query-completed', 'r-3', undefined],
    ]);
  });

  it('lets rows go before a read ends only once its start is stored, and refuses them while the stream cannot store it', async () => {
    const audit = await session();
    audit.onQuery('r-7', 'l-1', decision('select'), newContext('r-7'));
    await audit.onRowsSent('r-7');
    // resolved: the start is already in the stream, before any row could leave
    assert.deepEqual(await recorded(), [['query-started', 'r-7', undefined]]);
    const { messages } = (await jsm.streams.info(bus.streamName)).state;
    await jsm.streams.update(bus.streamName, { max_msgs: messages, discard: DiscardPolicy.New });
    try {
      audit.onQuery('r-8', 'l-1', decision('select'), newContext('r-8'));
      await assert.rejects(audit.onRowsSent('r-8'), (err: Error & { code?: string }) => err.code === 'runtime.unavailable');
    } finally {
      await jsm.streams.update(bus.streamName, { max_msgs: -1, discard: DiscardPolicy.Old });
    }
    // the start keeps being retried and is stored once the stream takes it again
    await events.flush(10_000);
    assert.deepEqual(await recorded(), [['query-started', 'r-8', undefined]]);
  });

  it('records the start of a read still running after the hold, while it runs', async () => {
    const audit = await session();
    audit.onQuery('r-4', 'l-1', decision('explain'), newContext('r-4'), reused);
    let started: unknown[] = [];
    for (let i = 0; i < 100 && started.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await events.flush(5000);
      started = await recorded();
    }
    assert.deepEqual(started, [['query-started', 'r-4', 'r-first']]);
    const failure: ClientError = { code: 'proxy.upstream_error', sqlState: '57014', message: 'canceling statement due to user request' };
    await audit.onQueryFailed('r-4', 'l-1', failure, 900, undefined, newContext('r-4'));
    assert.deepEqual(await recorded(), [['query-failed', 'r-4', undefined]]);
  });

  it('records a read that failed at once by its failure alone, and the start of one still running when its session ends', async () => {
    const audit = await session();
    audit.onQuery('r-5', 'l-1', decision('select'), newContext('r-5'), reused);
    await audit.onQueryFailed('r-5', 'l-1', { code: 'proxy.row_limit', sqlState: '54000', message: 'too many rows' }, 2, { rows: 0, bytes: 0, maskedCells: 0 }, newContext('r-5'));
    audit.onQuery('r-6', 'l-1', decision('select'), newContext('r-6'));
    audit.onSessionEnd('client-terminated');
    await events.flush(5000);
    assert.deepEqual(await recorded(), [
      ['query-failed', 'r-5', 'r-first'],
      ['query-started', 'r-6', undefined],
      ['session-closed', undefined, undefined],
    ]);
  });
});
