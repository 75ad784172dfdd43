import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { approvalV1 } from '@airlock/contracts';
import { Bus, EventPublisher, createLogger, decodeJson, type EventInput, type OutgoingEvent } from '@airlock/runtime';
import { deleteStream, natsUrl, uniqueSuffix } from '@airlock/testkit';

/**
 * EventPublisher over the real NATS: what one turn emits goes out as one pipelined batch, stored in emit order; a caller
 * can wait for an event's stream ack within a bound, and the event is still stored after the bound passed.
 */
describe('EventPublisher', () => {
  const logger = createLogger({ service: 'events-test', level: 'silent' });
  const root = `t${uniqueSuffix()}`;
  let bus: Bus;
  let jsm: JetStreamManager;
  let events: EventPublisher;
  /** the size of every batch the publisher handed to the bus */
  const batches: number[] = [];
  const decided = (approvalId: string): EventInput<typeof approvalV1.approvalDecided> => ({ requestId: 'r-1', sessionId: 's-1', approvalId, state: 'granted', quorum: 1, approvals: 1 });
  const stored = async () => (await jsm.streams.info(bus.streamName)).state.messages;

  before(async () => {
    bus = await Bus.connect({ url: natsUrl, root, service: 'approval', logger });
    await bus.ensureStream();
    jsm = await jetstreamManager(bus.nc);
    const publishAll = bus.publishAll.bind(bus);
    bus.publishAll = (batch: readonly OutgoingEvent[]) => {
      batches.push(batch.length);
      return publishAll(batch);
    };
    events = new EventPublisher(bus, logger);
  });
  after(async () => {
    await events?.flush(1000);
    await bus?.close();
    await deleteStream(root);
  });

  it('publishes what one turn emitted as one batch, stored in emit order', async () => {
    const emitted = Array.from({ length: 200 }, (_, i) => events.emit(approvalV1.approvalDecided, decided(`a-${i}`)));
    await events.stored(emitted, 10_000);
    assert.deepEqual(batches, [200]);
    assert.equal(await stored(), 200);
    const ids: string[] = [];
    for (let seq = 1; seq <= 200; seq++) ids.push((decodeJson((await jsm.streams.getMessage(bus.streamName, { seq }))!.data) as { id: string }).id);
    assert.deepEqual(ids, emitted.map((e) => e.id));
  });

  it('rejects a wait that outlasts its bound while the stream refuses, and stores the event once it takes it again', async () => {
    const before = await stored();
    // a full stream that discards new messages refuses every publish
    await jsm.streams.update(bus.streamName, { max_msgs: before, discard: DiscardPolicy.New });
    const e = events.emit(approvalV1.approvalDecided, decided('a-late'));
    await assert.rejects(events.stored([e], 300), (err: Error & { code?: string }) => err.code === 'runtime.unavailable');
    await jsm.streams.update(bus.streamName, { max_msgs: -1, discard: DiscardPolicy.Old });
    await events.stored([e], 10_000);
    assert.equal(await stored(), before + 1);
    const last = decodeJson((await jsm.streams.getMessage(bus.streamName, { last_by_subj: `${root}.evt.approval.v1.decided` }))!.data) as { id: string; approvalId: string };
    assert.deepEqual([last.id, last.approvalId], [e.id, 'a-late']);
  });

  it('rejects an event that breaks its contract at once, and stores the rest of its batch', async () => {
    const before = await stored();
    const invalid = events.emit(approvalV1.approvalDecided, { ...decided('a-bad'), state: 'maybe' } as unknown as EventInput<typeof approvalV1.approvalDecided>);
    const valid = events.emit(approvalV1.approvalDecided, decided('a-good'));
    await assert.rejects(invalid.stored, (err: Error & { code?: string }) => err.code === 'runtime.internal');
    await events.stored([valid], 10_000);
    assert.equal(await stored(), before + 1);
  });
});
