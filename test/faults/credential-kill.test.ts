import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, leaseRows, repoRoot, report, rolesAt, spawnService, startFaultStack, waitUntil, type ServiceProcess } from './helpers.js';

describe('fault: kill -9 of the credential service between creating a role and recording its lease', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;
  const children: ServiceProcess[] = [];
  const clients: pg.Client[] = [];

  before(async () => {
    nats = await startNatsServer();
    t = await startFaultStack({ nats, names: ['identity', 'policy', 'approval', 'audit', 'proxy'] });
  });
  after(async () => {
    for (const c of children) await c.kill9();
    // an open client would keep the proxy's front door from closing
    for (const c of clients) await c.end().catch(() => undefined);
    await t?.close();
    await nats?.destroy();
  });

  it('leaves an orphan role that the restarted service removes', async () => {
    const env = { ...t.env, AIRLOCK_CREDENTIAL_PENDING_GRACE_SECONDS: '5' };
    // the fault is injected by a preloaded harness module, not by a switch in the service
    const doomed = spawnService('credential', { ...env, NODE_OPTIONS: `--import ${pathToFileURL(join(repoRoot, 'test/faults/exit-after-create.mjs')).href}` });
    children.push(doomed);
    await doomed.waitFor(/credential service running/);
    const token = await t.token({ subject: 'agent-credential-kill', groups: ['analysts'] });
    const client = new pg.Client({ connectionString: t.pgUrl(token) });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    const statement = client.query('SELECT id FROM orders WHERE id = 1').then(
      () => 'completed',
      (err: Error) => err.message,
    );
    const exit = await doomed.exited;
    assert.equal(exit.signal, 'SIGKILL');
    // the crash window: the role exists upstream, its lease never became active
    const [orphan] = await rolesAt(t.demoAdminUrl, t.rolePrefix);
    assert.ok(orphan, 'the orphan role exists after the crash');
    assert.deepEqual((await leaseRows(t)).map((l) => [l.username, l.state]), [[orphan, 'pending']]);
    // an older crash left a role with no lease row at all
    const admin = new pg.Client({ connectionString: t.demoAdminUrl });
    await admin.connect();
    const stray = `${t.rolePrefix}stray`;
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(stray)} LOGIN IN ROLE demo_reader`);
    await admin.end();
    assert.deepEqual(await rolesAt(t.demoAdminUrl, t.rolePrefix), [orphan, stray].sort());

    const started = Date.now();
    const restarted = spawnService('credential', env);
    children.push(restarted);
    await restarted.waitFor(/credential service running/);
    await waitUntil(async () => !(await rolesAt(t.demoAdminUrl, t.rolePrefix)).includes(stray), 10_000, 'the stray role to be reconciled away');
    const strayMs = Date.now() - started;
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 15_000, 'the orphan role to be revoked');
    const orphanMs = Date.now() - started;
    report('credential kill -9: role without lease row removed after restart (start-up reconciliation)', [strayMs]);
    report('credential kill -9: pending-lease orphan removed after restart (pending grace 5 s)', [orphanMs]);
    const rows = await leaseRows(t);
    assert.deepEqual(rows.map((l) => [l.username, l.state, l.revoke_reason]), [[orphan, 'revoked', 'mint-interrupted']]);
    await waitUntil(async () => (await auditEvents(t, ['credential.v1.revoked'])).length === 1, 10_000, 'the revoked event');
    const [revoked] = await auditEvents(t, ['credential.v1.revoked']);
    assert.equal(revoked!.payload.username, orphan);
    assert.equal(revoked!.payload.reason, 'mint-interrupted');

    // the client that was waiting gets a clear error, and the restarted service serves new statements
    assert.match(await statement, /did not answer in time|unavailable/);
    await client.end().catch(() => undefined);
    const again = new pg.Client({ connectionString: t.pgUrl(token) });
    clients.push(again);
    await again.connect();
    assert.deepEqual((await again.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
    await again.end();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the second lease to be revoked');
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);
  });
});
