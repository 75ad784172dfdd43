import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Bus, contextHeaders, createLogger, encodeJson, newContext } from '@airlock/runtime';
import { deleteStream, eventually, natsUrl, uniqueSuffix } from '@airlock/testkit';
import { LiveEvents, type LiveEvent } from '../../src/live.js';

/**
 * The console follows the event stream only while a browser listens, on the real NATS: no consumer (and so no
 * delivery per statement) with no page open, one however many are open, every event published after a subscription
 * resolves delivered to it, and none left once the last one goes or the console closes.
 */
describe('console live events', () => {
  const root = `consolelive${uniqueSuffix()}`;
  const logger = createLogger({ service: 'console-test', level: 'warn' });
  let bus: Bus;
  let jsm: JetStreamManager;
  let live: LiveEvents;

  const consumers = async () => (await jsm.consumers.list(bus.streamName).next()).length;
  const publish = async (subject: string) => {
    const payload = { id: randomUUID(), time: new Date().toISOString(), sessionId: 'session-1', principal: { subject: 'analyst-1' }, email: 'ann@example.com' };
    await bus.js.publish(`${root}.evt.${subject}`, encodeJson(payload), { msgID: payload.id, headers: contextHeaders(newContext(payload.id)) });
    return payload;
  };
  const expected = (type: string, p: { id: string; time: string }): LiveEvent => ({ type, id: p.id, time: p.time, sessionId: 'session-1', subject: 'analyst-1' });

  before(async () => {
    bus = await Bus.connect({ url: natsUrl, root, service: 'console', logger });
    await bus.ensureStream();
    jsm = await jetstreamManager(bus.nc);
    live = new LiveEvents(bus, logger);
  });
  after(async () => {
    await live?.close();
    await bus?.close();
    await deleteStream(root);
  });

  it('holds no consumer while nobody listens, one while anyone does, and hands each listener every event after it subscribed', async () => {
    await publish('proxy.v1.query-completed');
    assert.equal(await consumers(), 0);

    const first: LiveEvent[] = [];
    const stopFirst = await live.subscribe((e) => first.push(e));
    assert.equal(await consumers(), 1);
    const a = await publish('proxy.v1.query-completed');
    await eventually(async () => (first.length === 1 ? true : undefined), 5000, 'the event published after subscribing');
    assert.deepEqual(first, [expected('proxy.v1.query-completed', a)]);

    const second: LiveEvent[] = [];
    const stopSecond = await live.subscribe((e) => second.push(e));
    assert.equal(await consumers(), 1);
    const b = await publish('credential.v1.lease-issued');
    await eventually(async () => (first.length === 2 && second.length === 1 ? true : undefined), 5000, 'the event reaching both listeners');
    assert.deepEqual(first, [expected('proxy.v1.query-completed', a), expected('credential.v1.lease-issued', b)]);
    assert.deepEqual(second, [expected('credential.v1.lease-issued', b)]);

    stopFirst();
    stopFirst();
    assert.equal(await consumers(), 1);
    stopSecond();
    await eventually(async () => ((await consumers()) === 0 ? true : undefined), 5000, 'the consumer removed with its last listener');
    await publish('proxy.v1.query-completed');

    const third: LiveEvent[] = [];
    const stopThird = await live.subscribe((e) => third.push(e));
    assert.equal(await consumers(), 1);
    const c = await publish('proxy.v1.query-completed');
    await eventually(async () => (third.length === 1 ? true : undefined), 5000, 'the event published after subscribing again');
    assert.deepEqual(third, [expected('proxy.v1.query-completed', c)]);
    assert.equal(first.length, 2);
    stopThird();
    await eventually(async () => ((await consumers()) === 0 ? true : undefined), 5000, 'the consumer removed again');
  });

  it('ends with no consumer after listeners come and go at once, and refuses new ones once closed', async () => {
    const stops = await Promise.all(Array.from({ length: 8 }, () => live.subscribe(() => undefined)));
    assert.equal(await consumers(), 1);
    stops.forEach((stop) => stop());
    await Promise.all(Array.from({ length: 4 }, async () => (await live.subscribe(() => undefined))()));
    await eventually(async () => ((await consumers()) === 0 ? true : undefined), 5000, 'no consumer left');

    await live.subscribe(() => undefined);
    assert.equal(await consumers(), 1);
    // a page that asks while the console closes is refused, not told ready with nothing behind it
    const late = live.subscribe(() => undefined);
    await live.close();
    await assert.rejects(late, { code: 'runtime.unavailable', message: 'the console is shutting down' });
    assert.equal(await consumers(), 0);
    await assert.rejects(live.subscribe(() => undefined), { code: 'runtime.unavailable', message: 'the console is shutting down' });
    assert.equal(await consumers(), 0);
  });
});
