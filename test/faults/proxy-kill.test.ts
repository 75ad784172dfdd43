import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { freePort, startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, holdOrdersLock, report, rolesAt, runningAt, spawnService, startFaultStack, waitUntil } from './helpers.js';

describe('fault: kill -9 of the proxy in the middle of a long query', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;

  before(async () => {
    nats = await startNatsServer();
    // every service but the proxy runs here; the proxy runs in its own process so that it can be killed
    t = await startFaultStack({ nats, names: ['identity', 'policy', 'approval', 'credential', 'audit'], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '4' } });
  });
  after(async () => {
    await t?.close();
    await nats?.destroy();
  });

  it('cancels the query and revokes the lease within 15 s (heartbeat grace + sweep)', async () => {
    const port = await freePort();
    const proxy = spawnService('proxy', { ...t.env, AIRLOCK_PGWIRE_PORT: String(port), AIRLOCK_HTTP_PORT: '0' });
    const lock = await holdOrdersLock(t.demoAdminUrl);
    try {
      await proxy.waitFor(/proxy service running/);
      const token = await t.token({ subject: 'agent-proxy-kill', groups: ['analysts'] });
      const client = new pg.Client({ connectionString: `postgresql://agent:${encodeURIComponent(token)}@127.0.0.1:${port}/demo?sslmode=disable` });
      client.on('error', () => undefined);
      await client.connect();
      const query = client.query('SELECT count(*) FROM orders').then(
        () => 'completed',
        (err: Error) => err.message,
      );
      await waitUntil(async () => (await runningAt(t.demoAdminUrl, t.rolePrefix)) === 1, 10_000, 'the long query to run upstream');
      // the proxy heartbeats the lease while the query runs
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await rolesAt(t.demoAdminUrl, t.rolePrefix)).length, 1);
      const started = Date.now();
      await proxy.kill9();
      assert.equal((await proxy.exited).signal, 'SIGKILL');
      await waitUntil(async () => (await backendsAt(t.demoAdminUrl, t.rolePrefix)) === 0, 15_000, 'the upstream backend to end');
      const cancelMs = Date.now() - started;
      await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 15_000 - cancelMs, 'the lease role to be dropped');
      const revokeMs = Date.now() - started;
      assert.notEqual(await query, 'completed');
      await client.end().catch(() => undefined);
      report('proxy kill -9: upstream backend gone', [cancelMs]);
      report('proxy kill -9: lease role dropped', [revokeMs]);
      await waitUntil(async () => (await auditEvents(t, ['credential.v1.revoked'])).length === 1, 10_000, 'the revoked event');
      const [revokedEvent] = await auditEvents(t, ['credential.v1.revoked']);
      assert.equal(revokedEvent!.payload.reason, 'heartbeat-lost');
      assert.equal(revokedEvent!.payload.terminatedSessions, 1);
    } finally {
      await proxy.kill9();
      await lock.release();
    }
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);
    assert.deepEqual(await rolesAt(t.demoAdminUrl, t.rolePrefix), []);
  });
});
