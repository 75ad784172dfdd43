import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { databaseUrl, eventually, startTestStack, heldForApproval, type TestStack } from '@airlock/testkit';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function decide(t: TestStack, token: string, approvalId: string, action: 'approve' | 'deny', body: unknown) {
  const res = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${approvalId}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function auditFor(t: TestStack, approvalId: string, requestId: string) {
  const c = await connect(databaseUrl(t.stateDb));
  try {
    const { rows } = await c.query<{ event_type: string; payload: any }>(
      `SELECT event_type, payload FROM audit_events
        WHERE payload->>'approvalId' = $1 OR (request_id = $2 AND event_type LIKE 'proxy.v1.query-%')
        ORDER BY seq`,
      [approvalId, requestId],
    );
    return rows;
  } finally {
    await c.end();
  }
}


describe('a statement held for approval through the PostgreSQL front door', () => {
  let t: TestStack;
  let analyst: string;
  let dba: string;

  before(async () => {
    t = await startTestStack();
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    dba = await t.token({ subject: 'dba-1', groups: ['dba'], email: 'dba-1@example.com', audience: 'http://127.0.0.1:8081' });
  });
  after(async () => {
    await t?.close();
  });

  it('completes the held DELETE once a dba approves, and the audit log shows request, vote and outcome', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      const before = (await c.query('SELECT count(*)::int AS n FROM orders WHERE id = 1')).rows[0].n;
      assert.equal(before, 1);
      const { approvalId, result } = heldForApproval(c, 'DELETE FROM orders WHERE id = 1');
      const id = await approvalId;
      const approved = await decide(t, dba, id, 'approve', { reason: 'duplicate order' });
      assert.deepEqual([approved.status, approved.body.approval.state], [200, 'granted']);
      const res = await result;
      assert.deepEqual([res.command, res.rowCount], ['DELETE', 1]);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM orders WHERE id = 1')).rows[0].n, 0);

      const rows = await eventually(async () => {
        const requested = (await auditFor(t, id, '')).find((r) => r.event_type === 'approval.v1.requested');
        if (!requested) return undefined;
        const all = await auditFor(t, id, requested.payload.requestId);
        return all.some((r) => r.event_type === 'proxy.v1.query-completed') ? all : undefined;
      });
      // the approval service and the proxy publish independently: each one's events are in order
      assert.deepEqual(rows.map((r) => r.event_type).filter((e) => e.startsWith('approval.')), ['approval.v1.requested', 'approval.v1.decided', 'approval.v1.grant-used']);
      assert.deepEqual(rows.map((r) => r.event_type).filter((e) => e.startsWith('proxy.')), ['proxy.v1.query-started', 'proxy.v1.query-completed']);
      const completed = rows.find((r) => r.event_type === 'proxy.v1.query-completed')!.payload;
      assert.equal(completed.requestId, rows[2]!.payload.requestId);
      assert.deepEqual([rows[0]!.payload.principal.subject, rows[0]!.payload.sql], ['agent-1', 'DELETE FROM orders WHERE id = 1']);
      const vote = rows[1]!.payload;
      assert.deepEqual([vote.state, vote.approver.subject, vote.approver.email, vote.reason], ['granted', 'dba-1', 'dba-1@example.com', 'duplicate order']);
      assert.equal(rows[2]!.payload.kind, 'one-shot');
    } finally {
      await c.end();
    }
  });

  it('fails the held statement with the reason when a dba denies it', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      const { approvalId, result } = heldForApproval(c, 'DELETE FROM orders WHERE id = 2');
      const id = await approvalId;
      const denied = await decide(t, dba, id, 'deny', { reason: 'order 2 is under audit' });
      assert.equal(denied.status, 200);
      await assert.rejects(result, (e: { code: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.equal(e.message, `an approver denied this statement (request ${id}): order 2 is under audit`);
        return true;
      });
      assert.equal((await c.query('SELECT count(*)::int AS n FROM orders WHERE id = 2')).rows[0].n, 1);
      const rows = await eventually(async () => {
        const r = await auditFor(t, id, '');
        return r.some((x) => x.event_type === 'approval.v1.decided') ? r : undefined;
      });
      const decided = rows.find((r) => r.event_type === 'approval.v1.decided')!.payload;
      assert.deepEqual([decided.state, decided.approver.subject, decided.reason], ['denied', 'dba-1', 'order 2 is under audit']);
      const failed = await eventually(async () => {
        const r = await auditFor(t, id, rows[0]!.payload.requestId);
        return r.find((x) => x.event_type === 'proxy.v1.query-failed');
      });
      assert.equal(failed.payload.code, 'approval.denied');
    } finally {
      await c.end();
    }
  });
});
