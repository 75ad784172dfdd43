import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { Front, api, stateQuery } from './helpers.js';

describe('approval expiry', () => {
  let t: TestStack;
  let front: Front;
  let agent: string;
  let dba: string;

  before(async () => {
    t = await startTestStack({
      env: { AIRLOCK_APPROVAL_SWEEP_MS: '200' },
      configure: (c) => {
        c['approval'] = { ttlSeconds: 2 };
      },
    });
    front = await Front.connect(t);
    agent = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    dba = await t.token({ subject: 'dba-1', groups: ['dba'], audience: 'http://127.0.0.1:8081' });
  });
  after(async () => {
    await front?.close();
    await t?.close();
  });

  it('expires a pending request after its ttl, announces it once, and refuses a late decision', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 1');
    const pending = await front.submit(req);
    assert.equal(pending.state, 'pending');
    const ttl = new Date(pending.expiresAt).getTime() - Date.now();
    assert.ok(ttl > 1000 && ttl <= 2000, `expires in ${ttl} ms`);
    // the sweeper expires it without anyone asking
    const row = await eventually(
      async () => (await stateQuery<{ state: string; reason: string }>(t, 'SELECT state, reason FROM approval_requests WHERE id = $1', [pending.approvalId])).find((r) => r.state === 'expired'),
      6_000,
      'the sweeper',
    );
    assert.equal(row.reason, 'no decision within 2 s: send the statement again to ask anew');
    const status = await front.status(pending.approvalId);
    assert.deepEqual([status.state, status.reason], ['expired', row.reason]);

    const late = await api(t.ports['approval']!, 'POST', `/v1/approvals/${pending.approvalId}/approve`, dba, {});
    assert.deepEqual([late.status, late.body.code], [403, 'approval.expired']);
    const lateDeny = await api(t.ports['approval']!, 'POST', `/v1/approvals/${pending.approvalId}/deny`, dba, { reason: 'too late anyway' });
    assert.deepEqual([lateDeny.status, lateDeny.body.code], [403, 'approval.expired']);
    assert.equal((await front.status(pending.approvalId)).state, 'expired');
    const votes = await stateQuery(t, 'SELECT 1 FROM approval_votes WHERE approval_id = $1', [pending.approvalId]);
    assert.equal(votes.length, 0);

    // sending the statement again asks anew
    const again = await front.submit(req);
    assert.equal(again.state, 'pending');
    assert.notEqual(again.approvalId, pending.approvalId);

    const events = await eventually(async () => {
      const r = await stateQuery<{ payload: any }>(
        t,
        `SELECT payload FROM audit_events WHERE event_type = 'approval.v1.decided' AND payload->>'approvalId' = $1`,
        [pending.approvalId],
      );
      return r.length > 0 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    const all = await stateQuery(t, `SELECT 1 FROM audit_events WHERE event_type = 'approval.v1.decided' AND payload->>'approvalId' = $1`, [pending.approvalId]);
    assert.equal(all.length, 1, 'one expiry event, however many sweeps and status calls saw it');
    assert.deepEqual([events[0]!.payload.state, events[0]!.payload.reason, events[0]!.payload.approver], ['expired', row.reason, undefined]);
  });

  it('a request past its time is expired by the status call itself, before any sweep', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 2');
    const pending = await front.submit(req);
    // make it due now; the status call must not answer pending
    await stateQuery(t, `UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [pending.approvalId]);
    assert.equal((await front.status(pending.approvalId)).state, 'expired');
  });
});
