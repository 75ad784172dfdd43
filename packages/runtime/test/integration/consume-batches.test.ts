import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allEventsSubject } from '@airlock/contracts';
import { Bus, createLogger, encodeJson } from '@airlock/runtime';
import { deleteStream, eventually, natsUrl, uniqueSuffix } from '@airlock/testkit';

/**
 * Bus.consumeBatches with lookahead, over the real NATS: the handler is shown the batch it gets next and then gets
 * exactly that batch; a batch whose handler throws comes back whole, with the same batch shown next; every message is
 * acknowledged once, after its batch's handler resolved.
 */
describe('Bus.consumeBatches with lookahead', () => {
  const logger = createLogger({ service: 'consume-test', level: 'error' });
  const root = `t${uniqueSuffix()}`;
  let bus: Bus;

  before(async () => {
    bus = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
  });
  after(async () => {
    await bus?.close();
    await deleteStream(root);
  });

  it('hands over the batch it showed next, retries a failed batch whole, and acknowledges every message once', async () => {
    await bus.ensureStream();
    const subject = allEventsSubject(root).replace('>', 'proxy.v1.query-started');
    // all published before consuming: batches after the first find more messages waiting
    for (let i = 1; i <= 30; i++) await bus.js.publish(subject, encodeJson({ n: i }));
    const calls: Array<{ batch: number[]; upcoming: number[] }> = [];
    let failed = false;
    await bus.consumeBatches(
      'lookahead',
      async (events, _working, upcoming) => {
        const n = (e: { payload: unknown }) => (e.payload as { n: number }).n;
        calls.push({ batch: events.map(n), upcoming: upcoming.map(n) });
        if (calls.length === 2 && !failed) {
          failed = true;
          throw new Error('the store is down for a moment');
        }
      },
      { maxBatch: 4, lookahead: true },
    );
    await eventually(async () => ((await bus.js.jetstreamManager()).consumers.info(bus.streamName, 'lookahead').then((c) => (c.ack_floor.stream_seq === 30 ? c : undefined))), 10_000, 'every message acknowledged');
    const info = await (await bus.js.jetstreamManager()).consumers.info(bus.streamName, 'lookahead');
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    // the second call failed: the third is the same batch with the same one shown next
    assert.deepEqual(calls[2], calls[1]);
    const handled = calls.filter((_, i) => i !== 1);
    // in stream order, each message once
    assert.deepEqual(handled.flatMap((c) => c.batch), Array.from({ length: 30 }, (_, i) => i + 1));
    // a batch shown next is the batch handed over next
    for (let i = 1; i < handled.length; i++) {
      if (handled[i - 1]!.upcoming.length > 0) assert.deepEqual(handled[i]!.batch, handled[i - 1]!.upcoming);
    }
    assert.ok(handled.some((c) => c.upcoming.length > 0), 'a batch was shown ahead');
  });
});

/**
 * Bus.consumeBatches with pipeline, over the real NATS: the next batch's handler runs while the one before it still
 * runs (two at most); a batch whose handler fails is retried whole before the batch behind it, which a handler fails
 * when the one before it failed, so the batches succeed in stream order and every message is acknowledged once.
 */
describe('Bus.consumeBatches with pipeline', () => {
  const logger = createLogger({ service: 'consume-test', level: 'error' });
  const root = `t${uniqueSuffix()}`;
  let bus: Bus;

  before(async () => {
    bus = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
  });
  after(async () => {
    await bus?.close();
    await deleteStream(root);
  });

  it('handles the next batch while the one before runs, retries a failed batch before the one behind it, and acknowledges every message once', async () => {
    await bus.ensureStream();
    const subject = allEventsSubject(root).replace('>', 'proxy.v1.query-started');
    for (let i = 1; i <= 30; i++) await bus.js.publish(subject, encodeJson({ n: i }));
    const calls: number[][] = [];
    const succeeded: number[][] = [];
    let running = 0;
    let most = 0;
    let failed = false;
    // as the audit store does: a batch handled while the one before it runs writes nothing when that one fails
    let last: { done: Promise<void>; settled: boolean } | undefined;
    await bus.consumeBatches(
      'pipeline',
      (events) => {
        const batch = events.map((e) => (e.payload as { n: number }).n);
        const earlier = last && !last.settled ? last.done : undefined;
        const done = (async () => {
          calls.push(batch);
          most = Math.max(most, ++running);
          try {
            await new Promise((r) => setTimeout(r, 20));
            if (earlier && !(await earlier.then(() => true, () => false))) throw new Error('the batch before this one failed');
            if (batch.includes(5) && !failed) {
              failed = true;
              throw new Error('the store is down for a moment');
            }
            succeeded.push(batch);
          } finally {
            running -= 1;
          }
        })();
        const own = { done, settled: false };
        const settle = () => void (own.settled = true);
        done.then(settle, settle);
        last = own;
        return done;
      },
      { maxBatch: 4, pipeline: true },
    );
    await eventually(async () => ((await bus.js.jetstreamManager()).consumers.info(bus.streamName, 'pipeline').then((c) => (c.ack_floor.stream_seq === 30 ? c : undefined))), 10_000, 'every message acknowledged');
    const info = await (await bus.js.jetstreamManager()).consumers.info(bus.streamName, 'pipeline');
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    assert.equal(most, 2, 'two batches handled at once, never more');
    // the failed batch came back whole, and the one behind it (failed for it) came next, before any later batch
    const first = calls.findIndex((c) => c.includes(5));
    const again = calls.findIndex((c, i) => i > first && c.includes(5));
    assert.deepEqual(calls[again], calls[first]);
    assert.deepEqual(calls[again + 1], calls[first + 1]);
    assert.equal(calls[again + 1]![0], calls[first]!.at(-1)! + 1);
    // every message once, the batches succeeding in stream order
    assert.deepEqual(succeeded.flat(), Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
