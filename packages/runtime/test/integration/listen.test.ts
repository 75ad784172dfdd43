import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { approvalV1, eventSubject } from '@airlock/contracts';
import { Bus, createLogger, encodeJson } from '@airlock/runtime';
import { deleteStream, eventually, natsUrl, uniqueSuffix } from '@airlock/testkit';

/**
 * Bus.listen hears an event as the publishing service stores it in JetStream, over the real NATS, without a
 * consumer: what a held statement waits on. Malformed events are dropped; after stop() nothing more arrives.
 */
describe('Bus.listen', () => {
  const logger = createLogger({ service: 'listen-test', level: 'error' });
  const root = `t${uniqueSuffix()}`;
  let approval: Bus;
  let proxy: Bus;

  before(async () => {
    approval = await Bus.connect({ url: natsUrl, root, service: 'approval', logger });
    proxy = await Bus.connect({ url: natsUrl, root, service: 'proxy', logger });
  });
  after(async () => {
    await proxy?.close();
    await approval?.close();
    await deleteStream(root);
  });

  it('hears each published event once, drops a malformed one, and hears nothing after stop', async () => {
    const heard: approvalV1.ApprovalDecided[] = [];
    const listener = await proxy.listen(approvalV1.approvalDecided, (e) => heard.push(e));
    const decided = (approvalId: string, state: approvalV1.ApprovalState) =>
      approval.publish(approvalV1.approvalDecided, { requestId: 'r-1', sessionId: 's-1', approvalId, state, quorum: 1, approvals: 1, ...(state === 'denied' ? { reason: 'no' } : {}) });
    await decided('a-1', 'granted');
    // not an ApprovalDecided: no approvalId, an unknown state
    approval.nc.publish(eventSubject(root, approvalV1.approvalDecided), encodeJson({ id: 'x', time: new Date().toISOString(), state: 'maybe' }));
    await decided('a-2', 'denied');
    await eventually(async () => (heard.length >= 2 ? true : undefined), 5000, 'both events');
    await approval.nc.flush();
    assert.deepEqual(
      heard.map((e) => [e.approvalId, e.state, e.reason]),
      [
        ['a-1', 'granted', undefined],
        ['a-2', 'denied', 'no'],
      ],
    );
    listener.stop();
    listener.stop();
    await decided('a-3', 'expired');
    await proxy.nc.flush();
    assert.equal(heard.length, 2);
  });
});
