import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { demoCustomers } from '@airlock/cli';
import { eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

/**
 * The proxy on a worker thread of its own, as `airlock up` runs it: the same statements, masked and recorded the same
 * way, and a close with a client still connected that tells the client (57P01) and leaves no lease behind (the thread
 * closes first, while credential still revokes). Before, a stack closed with a client connected waited for the client.
 */
describe('the proxy on a thread of its own', () => {
  let t: TestStack;

  before(async () => {
    t = await startTestStack({ apart: ['proxy'] });
  });
  after(async () => {
    await t?.close();
  });

  it('runs only the other services on the calling thread', () => {
    assert.deepEqual(t.stack.services.map((s) => s.name).sort(), ['approval', 'audit', 'console', 'credential', 'identity', 'policy']);
    assert.equal(typeof t.ports['pgwire'], 'number');
  });

  it('serves a masked read, records it, and leaves no lease role once closed', async () => {
    const analyst = await t.token({ subject: 'agent-thread', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(analyst) });
    await c.connect();
    const r = await c.query({ text: 'SELECT id, email FROM customers WHERE id = 1', rowMode: 'array' });
    assert.deepEqual(r.rows, [[1, `***@${demoCustomers()[0]!.email.split('@')[1]}`]]);
    // a session left open: closing the stack must revoke its lease
    const completed = await eventually(async () => {
      const rows = await t.auditRows("event_type = 'proxy.v1.query-completed'");
      return rows.length === 1 ? rows : undefined;
    }, 10_000, 'the statement recorded');
    assert.equal(completed[0]!.payload.command, 'SELECT 1');
    assert.equal((await rolesWithPrefix(t.rolePrefix)).length, 1);
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    const errors: Array<{ code?: string; message: string }> = [];
    c.on('error', (e: Error & { code?: string }) => errors.push({ code: e.code, message: e.message }));
    // the stack alone (the test kit's own close then drops whatever roles are left, which would hide one)
    await t.stack.close();
    await ended;
    // the client was told why, in its protocol, before its connection closed
    assert.deepEqual(errors[0], { code: '57P01', message: 'Airlock is shutting down: this session ended and its database credential is revoked; connect again' });
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
  });
});
