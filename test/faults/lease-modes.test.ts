import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { databaseUrl, startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditEvents, report, rolesAt, startFaultStack, waitUntil, withClient } from './helpers.js';

describe('lease modes: idle limit, hard maximum lifetime, per statement', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;
  const clients: pg.Client[] = [];

  before(async () => {
    nats = await startNatsServer();
    t = await startFaultStack({
      nats,
      configure: (c) => {
        c['connections']['demo']['leases'] = { ...c['connections']['demo']['leases'], idleSeconds: 2, maxTtlSeconds: 10 };
        // agents of the group statement-agents read customers under a lease per statement (the rule's leaseMode)
        const rule = (c['policies'] as Array<Record<string, unknown>>).find((p) => p['name'] === 'analysts-read')!;
        (c['policies'] as Array<Record<string, unknown>>).push({ ...rule, name: 'per-statement-count', kinds: ['select'], tables: ['customers'], leaseMode: 'statement', groups: ['statement-agents'] });
      },
    });
  });
  after(async () => {
    // an open client would keep the proxy's front door from closing
    for (const c of clients) await c.end().catch(() => undefined);
    await t?.close();
    await nats?.destroy();
  });

  const reasons = async () => (await auditEvents(t, ['credential.v1.revoked'])).map((e) => e.payload.reason as string);

  it('revokes an idle session lease and mints a new one for its next statement', async () => {
    const client = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-idle', groups: ['analysts'] })) });
    clients.push(client);
    await client.connect();
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 5')).rows, [{ id: 5 }]);
    const idleAt = Date.now();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the idle lease to be revoked');
    report('idle limit 2 s: lease revoked after the last statement', [Date.now() - idleAt]);
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 6')).rows, [{ id: 6 }]);
    assert.equal((await rolesAt(t.demoAdminUrl, t.rolePrefix)).length, 1);
    // an open transaction that goes idle is rolled back, and the client is told so
    await client.query('BEGIN');
    await client.query('SELECT id FROM orders WHERE id = 7');
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the idle transaction lease to be revoked');
    await assert.rejects(client.query('SELECT 1 FROM orders LIMIT 1'), (err: { code: string; message: string }) => {
      assert.equal(err.code, '25P02');
      assert.match(err.message, /rolled back and its credential revoked because the session was idle/);
      return true;
    });
    await client.query('ROLLBACK');
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 8')).rows, [{ id: 8 }]);
    await client.end();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the last lease to be revoked');
    assert.deepEqual((await reasons()).slice(0, 3), ['idle-timeout', 'idle-timeout', 'client-terminated']);
  });

  it('ends a lease at its maximum lifetime even while heartbeats continue', async () => {
    const client = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-ttl', groups: ['analysts'] })) });
    clients.push(client);
    await client.connect();
    const before = (await reasons()).length;
    const started = Date.now();
    // a statement every second keeps the session busy and the proxy heartbeating (every 1 s) past the 10 s maximum
    let expired = false;
    while (!expired && Date.now() - started < 20_000) {
      await client.query('SELECT id FROM orders WHERE id = 9').catch(() => undefined);
      expired = (await reasons()).slice(before).includes('expired');
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(expired, 'the lease was revoked as expired');
    report('maxTtlSeconds 10: lease revoked after it was minted', [Date.now() - started]);
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 10')).rows, [{ id: 10 }]);
    await client.end();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'every lease to be revoked');
  });

  it('mints and revokes per statement and refuses transactions in that mode', async () => {
    const client = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-stmt', groups: ['statement-agents'] })) });
    clients.push(client);
    await client.connect();
    const before = (await auditEvents(t, ['credential.v1.issued'])).length;
    for (const id of [1, 2, 3]) {
      assert.deepEqual((await client.query('SELECT id FROM customers WHERE id = $1', [id])).rows, [{ id }]);
      await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the statement lease to be revoked');
    }
    await waitUntil(async () => (await auditEvents(t, ['credential.v1.issued'])).length === before + 3, 5000, 'three issued leases');
    assert.deepEqual((await reasons()).slice(-3), ['statement-complete', 'statement-complete', 'statement-complete']);
    await client.query('BEGIN');
    await assert.rejects(client.query('SELECT id FROM customers WHERE id = 1'), (err: { code: string; message: string }) => {
      assert.equal(err.code, '25000');
      assert.match(err.message, /mints a credential per statement, so transactions across statements are not possible/);
      return true;
    });
    await client.end();
  });
  it('answers a per-statement statement before its revocation and still revokes it, while the next statement runs and on a disconnect at once', async () => {
    const leasesOf = (subject: string) =>
      withClient(databaseUrl(t.stateDb), async (c) =>
        (
          await c.query<{ state: string; revoke_reason: string | null; created: Date; revoked: Date | null }>(
            'SELECT state, revoke_reason, created_at AS created, revoked_at AS revoked FROM leases WHERE subject = $1 ORDER BY created_at',
            [subject],
          )
        ).rows,
      );
    // back to back on one session: each statement's lease is revoked, the next statement not waiting for it
    // (test/e2e/statement-pool.test.ts holds a revocation up and shows the next statement answered meanwhile)
    const client = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-stmt-quick', groups: ['statement-agents'] })) });
    clients.push(client);
    await client.connect();
    for (const id of [4, 5, 6, 7]) {
      assert.deepEqual((await client.query('SELECT id FROM customers WHERE id = $1', [id])).rows, [{ id }]);
    }
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the last statement lease to be revoked');
    const quick = await leasesOf('agent-stmt-quick');
    assert.equal(quick.length, 4);
    for (const lease of quick) {
      assert.equal(lease.state, 'revoked');
      assert.equal(lease.revoke_reason, 'statement-complete');
    }
    await client.end();

    // the client leaves the moment its rows arrive: the lease is revoked all the same, and no role remains
    for (const n of [1, 2, 3]) {
      const subject = `agent-stmt-gone-${n}`;
      const gone = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject, groups: ['statement-agents'] })) });
      await gone.connect();
      assert.deepEqual((await gone.query('SELECT id FROM customers WHERE id = $1', [n])).rows, [{ id: n }]);
      await gone.end();
      await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the statement lease to be revoked after the client left');
      await waitUntil(async () => (await leasesOf(subject)).every((l) => l.state === 'revoked'), 5000, 'the lease to be recorded revoked');
      assert.deepEqual((await leasesOf(subject)).map((l) => l.revoke_reason), ['statement-complete']);
    }
  });
});
