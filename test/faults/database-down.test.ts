import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startNatsServer, startPostgresCluster, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, leaseRows, report, rolesAt, startFaultStack, waitUntil } from './helpers.js';

describe('fault: the upstream database refuses connections during revocation', () => {
  let nats: OwnServer;
  let cluster: Awaited<ReturnType<typeof startPostgresCluster>>;
  let t: Awaited<ReturnType<typeof startFaultStack>>;

  before(async () => {
    nats = await startNatsServer();
    cluster = await startPostgresCluster();
    t = await startFaultStack({ nats, demoServer: cluster, env: { AIRLOCK_REVOKE_ATTEMPTS_BEFORE_ALERT: '3' } });
  });
  after(async () => {
    await t?.close();
    await cluster?.destroy();
    await nats?.destroy();
  });

  it('retries with backoff, alerts as irrevocable, keeps retrying, and revokes once the database is back', async () => {
    const token = await t.token({ subject: 'agent-db-down', groups: ['analysts'] });
    const client = new pg.Client({ connectionString: t.pgUrl(token) });
    client.on('error', () => undefined);
    await client.connect();
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 4')).rows, [{ id: 4 }]);
    const [role] = await rolesAt(t.demoAdminUrl, t.rolePrefix);
    assert.ok(role);

    await cluster.stop();
    // the session ends while the database refuses connections: the proxy's revocation fails, the sweeper retries
    await client.end();
    await waitUntil(
      async () => (await auditEvents(t, ['credential.v1.revoke-failed'])).some((e) => e.payload.irrevocable === true),
      20_000,
      'the irrevocable alert',
    );
    const started = Date.now();
    await cluster.start();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 30_000, 'the lease role to be dropped');
    report('database down: revoked after the database came back', [Date.now() - started]);
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);

    await waitUntil(async () => (await auditEvents(t, ['credential.v1.revoked'])).length === 1, 10_000, 'the revoked event');
    const failures = (await auditEvents(t, ['credential.v1.revoke-failed'])).map((e) => e.payload);
    const [revoked] = (await auditEvents(t, ['credential.v1.revoked'])).map((e) => e.payload);
    assert.ok(failures.length >= 3, `${failures.length} failed attempts recorded`);
    assert.deepEqual(failures.map((f) => f.attempt), failures.map((_, i) => i + 1));
    assert.deepEqual(failures.map((f) => f.irrevocable), failures.map((f) => f.attempt >= 3));
    assert.ok(failures.every((f) => f.username === role && f.leaseId === revoked.leaseId));
    assert.ok(failures.every((f) => /ECONNREFUSED|connect|terminat|shutting down/i.test(f.error)), failures.map((f) => f.error).join('; '));
    assert.equal(revoked.username, role);
    assert.equal(revoked.reason, 'client-terminated');
    assert.equal(revoked.attempts, failures.length + 1);
    assert.deepEqual((await leaseRows(t)).map((l) => [l.username, l.state, l.revoke_attempts]), [[role, 'revoked', failures.length + 1]]);
    console.log(`[faults] database down: ${failures.length} failed attempts (the last ${failures.filter((f) => f.irrevocable).length} with irrevocable: true) before the revocation succeeded`);
  });
});
