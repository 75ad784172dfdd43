import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, holdOrdersLock, report, rolesAt, runningAt, startFaultStack, vanish, waitUntil } from './helpers.js';

describe('fault: the client vanishes in the middle of a long query (PostgreSQL front door)', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;

  before(async () => {
    nats = await startNatsServer();
    t = await startFaultStack({ nats });
  });
  after(async () => {
    await t?.close();
    await nats?.destroy();
  });

  it('cancels the upstream query and revokes the lease within 5 s of the socket dying without a Terminate', async () => {
    const cancelTimes: number[] = [];
    const revokeTimes: number[] = [];
    const token = await t.token({ subject: 'agent-vanish', groups: ['analysts'] });
    for (let round = 0; round < 3; round++) {
      const lock = await holdOrdersLock(t.demoAdminUrl);
      const client = new pg.Client({ connectionString: t.pgUrl(token) });
      client.on('error', () => undefined);
      await client.connect();
      const query = client.query('SELECT count(*) FROM orders').then(
        () => 'completed',
        (err: Error) => err.message,
      );
      try {
        await waitUntil(async () => (await runningAt(t.demoAdminUrl, t.rolePrefix)) === 1, 10_000, 'the long query to run upstream');
        assert.equal((await rolesAt(t.demoAdminUrl, t.rolePrefix)).length, 1);
        vanish(client);
        const started = Date.now();
        await waitUntil(async () => (await backendsAt(t.demoAdminUrl, t.rolePrefix)) === 0, 5000, 'the upstream backend to end');
        cancelTimes.push(Date.now() - started);
        await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 5000, 'the lease role to be dropped');
        revokeTimes.push(Date.now() - started);
        // the client saw its connection die, not a result
        assert.notEqual(await query, 'completed');
      } finally {
        await lock.release();
      }
    }
    await waitUntil(async () => (await auditEvents(t, ['credential.v1.revoked'])).length === 3, 10_000, 'three revoked events');
    const events = await auditEvents(t, ['credential.v1.revoked']);
    assert.deepEqual(events.map((e) => e.payload.reason), ['client-disconnected', 'client-disconnected', 'client-disconnected']);
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);
    assert.deepEqual(await rolesAt(t.demoAdminUrl, t.rolePrefix), []);
    report('client vanished (pgwire): upstream backend gone', cancelTimes);
    report('client vanished (pgwire): lease role dropped', revokeTimes);
  });
});
