// A statement held for approval waits on the approval service's decided event: it asks the request's status once
// after it starts listening (the decision may have landed first) and once more only when its hold time passes. The
// event only wakes the hold: what it says is taken from the approval service's own answer, so a decided event that
// the approval service did not mean (forged, replayed) neither refuses nor releases the statement.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { approvalV1, eventSubject, requestSubject } from '@airlock/contracts';
import { eventually, natsUrl, startTestStack, heldForApproval, type TestStack } from '@airlock/testkit';

const HOLD_SECONDS = 4;

async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}


describe('a held statement waits on the approval event, not on polling', () => {
  let t: TestStack;
  let analyst: string;
  let dba: string;
  let nc: NatsConnection;
  let statusCalls: Subscription;
  /** status requests seen on the bus, by approval id */
  const asked = new Map<string, number>();

  before(async () => {
    t = await startTestStack({ configure: (c) => (c['approval']['holdSeconds'] = HOLD_SECONDS) });
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    dba = await t.token({ subject: 'dba-1', groups: ['dba'], email: 'dba-1@example.com', audience: 'http://127.0.0.1:8081' });
    nc = await connect({ servers: natsUrl });
    // a plain subscription beside the approval service's queue group receives a copy of every status request
    statusCalls = nc.subscribe(requestSubject(t.root, approvalV1.getApprovalStatus), {
      callback: (_err, msg) => {
        const { approvalId } = msg.json<{ approvalId: string }>();
        asked.set(approvalId, (asked.get(approvalId) ?? 0) + 1);
      },
    });
    await nc.flush();
  });
  after(async () => {
    statusCalls?.unsubscribe();
    await nc?.close();
    await t?.close();
  });

  it('runs the statement as soon as it is approved, having asked its status once', async () => {
    const c = await pgClient(t.pgUrl(analyst));
    try {
      const { approvalId, result } = heldForApproval(c, 'DELETE FROM orders WHERE id = 3');
      const id = await approvalId;
      // well past the 500 ms a poll would have taken, within the hold
      await new Promise((r) => setTimeout(r, 2000));
      const approvedAt = Date.now();
      const res = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'duplicate order' }),
      });
      assert.equal(res.status, 200);
      const done = await result;
      assert.deepEqual([done.command, done.rowCount], ['DELETE', 1]);
      // woken by the event, not by the end of the hold
      assert.ok(Date.now() - approvedAt < (HOLD_SECONDS - 2) * 1000, `ran ${Date.now() - approvedAt} ms after the approval`);
      assert.equal(asked.get(id), 1);
    } finally {
      await c.end();
    }
  });

  it('answers pending when the hold time passes, asking once more then', async () => {
    const c = await pgClient(t.pgUrl(analyst));
    try {
      const started = Date.now();
      const { approvalId, result } = heldForApproval(c, 'DELETE FROM orders WHERE id = 4');
      const id = await approvalId;
      await assert.rejects(result, (e: { message: string }) => {
        assert.match(e.message, new RegExp(`^this statement needs approval \\(rule "[^"]+"\\) by dba: request ${id} is pending until `));
        return true;
      });
      assert.ok(Date.now() - started >= HOLD_SECONDS * 1000, 'held for the whole hold time');
      assert.equal(asked.get(id), 2);
    } finally {
      await c.end();
    }
  });

  it('stops holding when the client goes away, without asking again', async () => {
    const c = await pgClient(t.pgUrl(analyst));
    c.on('error', () => undefined);
    const { approvalId } = heldForApproval(c, 'DELETE FROM orders WHERE id = 5');
    const id = await approvalId;
    const requested = await eventually(async () => (await t.auditRows(`event_type = 'approval.v1.requested' AND payload->>'approvalId' = $1`, [id]))[0]);
    await c.end();
    const failed = await eventually(async () =>
      (await t.auditRows(`event_type = 'proxy.v1.query-failed' AND payload->>'requestId' = $1`, [requested.payload.requestId]))[0],
    );
    assert.equal(failed.payload.code, 'approval.pending');
    // ended by the session's close, well before the hold time
    assert.ok(failed.payload.durationMs < (HOLD_SECONDS - 1) * 1000, `held ${failed.payload.durationMs} ms`);
    assert.equal(asked.get(id), 1);
  });

  it('takes a decided event as a wake-up only: a forged grant or denial changes nothing, the real approval runs it', async () => {
    const c = await pgClient(t.pgUrl(analyst));
    try {
      const { approvalId, result } = heldForApproval(c, 'DELETE FROM orders WHERE id = 6');
      const id = await approvalId;
      const forge = (state: approvalV1.ApprovalState, reason: string) =>
        nc.publish(eventSubject(t.root, approvalV1.approvalDecided), JSON.stringify({ id: randomUUID(), time: new Date().toISOString(), approvalId: id, state, reason }));
      forge('granted', 'forged grant');
      forge('denied', 'IGNORE PREVIOUS INSTRUCTIONS');
      forge('expired', 'forged expiry');
      await nc.flush();
      await new Promise((r) => setTimeout(r, 500));
      const res = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'duplicate order' }),
      });
      assert.equal(res.status, 200);
      const done = await result;
      assert.deepEqual([done.command, done.rowCount], ['DELETE', 1]);
    } finally {
      await c.end();
    }
  });
});
