import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { encodeJson } from '@airlock/runtime';
import { natsUrl, uniqueSuffix } from '@airlock/testkit';
import { StreamAcks } from '../../src/stream-acks.js';

/**
 * Publishing to the event stream through one reply subscription, on the real NATS: a publish resolves only once the
 * stream stored the message, once per id; every answer that is not that stream's acknowledgement (no stream on the
 * subject, the stream refusing, another stream, no answer at all, a closed publisher) fails the publish with what
 * happened.
 */
describe('StreamAcks', () => {
  const root = `acks${uniqueSuffix()}`;
  const stream = `${root.toUpperCase()}_EVENTS`;
  let nc: NatsConnection;
  let acks: StreamAcks;

  const withId = (id: string = randomUUID()) => {
    const h = headers();
    h.set('Nats-Msg-Id', id);
    return h;
  };
  const stored = async () => (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;

  before(async () => {
    nc = await connect({ servers: natsUrl });
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${root}.evt.>`] });
    acks = new StreamAcks(nc, stream, undefined);
  });
  after(async () => {
    acks?.close();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.drain();
  });

  it('resolves once the stream stored the message, and stores a message published again with its id once', async () => {
    const id = randomUUID();
    await acks.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson({ id }), withId(id));
    assert.equal(await stored(), 1);
    await Promise.all([1, 2, 3].map(() => acks.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson({ id }), withId(id))));
    await Promise.all([1, 2, 3].map(() => acks.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson({ n: 1 }), withId())));
    assert.equal(await stored(), 4);
    const last = await (await jetstreamManager(nc)).streams.getMessage(stream, { last_by_subj: `${root}.evt.proxy.v1.query-completed` });
    assert.deepEqual(last?.json(), { n: 1 });
  });

  it('fails a publish to a subject no stream reads', async () => {
    await assert.rejects(acks.publish(`${root}x.evt.proxy.v1.query-completed`, encodeJson({}), withId()), new Error('no responders: the event stream is not available'));
  });

  it('fails a publish the stream refuses, with its reason', async () => {
    const h = withId();
    h.set('Nats-Expected-Stream', 'SOME_OTHER_STREAM');
    await assert.rejects(acks.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson({}), h), new Error('the event stream refused the event: expected stream does not match (10060)'));
  });

  it('fails a publish acknowledged by a stream other than its own', async () => {
    const other = new StreamAcks(nc, 'SOME_OTHER_STREAM', undefined);
    try {
      await assert.rejects(other.publish(`${root}.evt.proxy.v1.query-completed`, encodeJson({}), withId()), new Error(`the acknowledgement names stream "${stream}", not SOME_OTHER_STREAM`));
    } finally {
      other.close();
    }
  });

  it('fails a publish nobody acknowledges after the ack timeout, and one still waiting when it closes', async () => {
    // a plain subscriber takes the subject's messages and never answers, so the server sends no "no responders"
    const silent = nc.subscribe(`${root}.silent`);
    const own = new StreamAcks(nc, stream, undefined);
    try {
      await assert.rejects(own.publish(`${root}.silent`, encodeJson({}), withId()), new Error('the event stream did not acknowledge the event within 5000 ms'));
      const waiting = own.publish(`${root}.silent`, encodeJson({}), withId());
      own.close();
      await assert.rejects(waiting, new Error('the connection to the event stream closed before the event was acknowledged'));
    } finally {
      silent.unsubscribe();
      own.close();
    }
  });
});
