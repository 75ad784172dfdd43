import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { allEventsSubject } from '@airlock/contracts';
import { Bus, createLogger, encodeJson } from '@airlock/runtime';
import { deleteStream, eventually, natsUrl, uniqueSuffix } from '@airlock/testkit';

/**
 * Bus.consumeBatches with lookahead, over the real NATS: the handler is shown the batch it gets next and then gets
 * exactly that batch; a batch whose handler throws comes back whole, with the same batch shown next; every message is
 * acknowledged once, after its batch's handler resolved. With gatherMs, a batch waits for more messages until it is full
 * or that long has passed, and a stop cuts the wait short.
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

  it('refuses a durable of its name that reads only some subjects or acknowledges all up to a message', async () => {
    await bus.ensureStream();
    const jsm = await bus.js.jetstreamManager();
    await jsm.consumers.add(bus.streamName, { durable_name: 'someone-elses', ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, filter_subject: `${root}.evt.identity.>` });
    await assert.rejects(
      bus.consumeBatches('someone-elses', async () => undefined),
      new Error(`the durable consumer someone-elses exists with filter "${root}.evt.identity.>" and ack policy all, not "${allEventsSubject(root)}" and explicit: remove it, and it is made again`),
    );
  });

  it('gathers what arrives within gatherMs of a batch\'s first message, and hands a full batch over at once', async () => {
    const durable = 'gather';
    const subject = allEventsSubject(root).replace('>', 'proxy.v1.query-completed');
    const jsm = await bus.js.jetstreamManager();
    const base = (await jsm.streams.info(bus.streamName)).state.last_seq;
    await jsm.consumers.add(bus.streamName, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: allEventsSubject(root), max_ack_pending: 1000 });
    const batches: number[][] = [];
    await bus.consumeBatches(durable, async (events) => void batches.push(events.map((e) => (e.payload as { n: number }).n)), { maxBatch: 50, gatherMs: 2000 });
    // one at a time, each stored before the next is sent: all arrive within the first one's 2 s
    for (let i = 1; i <= 5; i++) await bus.js.publish(subject, encodeJson({ n: i }));
    await eventually(async () => (batches.length === 1 ? true : undefined), 10_000, 'the first batch');
    assert.deepEqual(batches, [[1, 2, 3, 4, 5]]);
    await Promise.all(Array.from({ length: 120 }, (_, i) => bus.js.publish(subject, encodeJson({ n: 6 + i }))));
    await eventually(async () => ((await jsm.consumers.info(bus.streamName, durable)).ack_floor.stream_seq === base + 125 ? true : undefined), 10_000, 'every message acknowledged');
    assert.deepEqual(batches.map((b) => b.length), [5, 50, 50, 20]);
    assert.deepEqual(batches.flat(), Array.from({ length: 125 }, (_, i) => i + 1));
  });

  it('stops while it gathers without handing the batch over, and hands its messages back to the stream at once', async () => {
    const own = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
    const durable = 'gather-stop';
    const subject = allEventsSubject(root).replace('>', 'proxy.v1.query-completed');
    const jsm = await bus.js.jetstreamManager();
    const last = (await jsm.streams.info(bus.streamName)).state.last_seq;
    await jsm.consumers.add(bus.streamName, { durable_name: durable, ack_policy: AckPolicy.Explicit, ack_wait: 30 * 1_000_000_000, deliver_policy: DeliverPolicy.New, filter_subject: allEventsSubject(root), max_ack_pending: 1000 });
    let handled = 0;
    await own.consumeBatches(durable, async () => void (handled += 1), { gatherMs: 600_000 });
    await bus.js.publish(subject, encodeJson({ n: 1 }));
    await eventually(async () => ((await jsm.consumers.info(bus.streamName, durable)).num_ack_pending === 1 ? true : undefined), 10_000, 'the message delivered');
    // within the test's own deadline, not the ten minutes the batch would wait
    await own.close();
    assert.equal(handled, 0);
    // another copy gets it well before the 30 s acknowledgement wait would have given it back
    const other = await Bus.connect({ url: natsUrl, root, service: 'audit', logger });
    try {
      const got: number[] = [];
      await other.consumeBatches(durable, async (events) => void got.push(...events.map((e) => (e.payload as { n: number }).n)));
      await eventually(async () => ((await jsm.consumers.info(bus.streamName, durable)).ack_floor.stream_seq === last + 1 ? true : undefined), 10_000, 'the message handled by the other copy');
      assert.deepEqual(got, [1]);
    } finally {
      await other.close();
    }
  });
});
