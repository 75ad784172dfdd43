import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

/**
 * The stack closed (the proxy on its own thread) while a read runs under a per-statement lease on a connection opened
 * ahead. The session's close cancelled the statement but revoked only the leases it held for the session: the running
 * statement's lease was revoked by the statement's own end, once its failure was recorded, which could come after the
 * proxy and the credential service had closed, leaving its login role behind (seen in one run of two before).
 */
describe('closing the stack while a per-statement read runs', () => {
  let t: TestStack;
  before(async () => {
    t = await startTestStack({
      apart: ['proxy'],
      configure: (c) => {
        c['connections']['demo']['leases'] = { ...c['connections']['demo']['leases'], mode: 'statement', pool: { size: 4, maxWaitSeconds: 3600, open: 2 } };
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  it('leaves no lease role', async () => {
    const analyst = await t.token({ subject: 'agent-inflight', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(analyst) });
    c.on('error', () => undefined);
    await c.connect();
    const running = c.query('SELECT count(*) FROM generate_series(1, 400000000)').catch((e: Error) => e);
    await eventually(async () => ((await t.auditRows("event_type = 'proxy.v1.query-started'")).length === 1 ? true : undefined), 15_000, 'the read running');
    await t.stack.close();
    assert.ok((await running) instanceof Error);
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
  });
});
