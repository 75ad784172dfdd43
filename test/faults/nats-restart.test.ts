import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { demoOrders } from '@airlock/cli';
import { startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, holdOrdersLock, report, rolesAt, runningAt, startFaultStack, waitUntil } from './helpers.js';

describe('fault: NATS restarted mid-session', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;
  const clients: pg.Client[] = [];

  before(async () => {
    nats = await startNatsServer();
    // a grace longer than the outage: the session's lease must survive it
    t = await startFaultStack({ nats, env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '30' } });
  });
  after(async () => {
    // an open client would keep the proxy's front door from closing
    for (const c of clients) await c.end().catch(() => undefined);
    await t?.close();
    await nats?.destroy();
  });

  it('fails the statement caught in the outage with a clear error, reconnects, runs the next one, leaks nothing', async () => {
    const token = await t.token({ subject: 'agent-nats', groups: ['analysts'] });
    const client = new pg.Client({ connectionString: t.pgUrl(token) });
    clients.push(client);
    await client.connect();
    assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
    // a statement already running upstream when NATS goes away
    const lock = await holdOrdersLock(t.demoAdminUrl);
    const other = new pg.Client({ connectionString: t.pgUrl(token) });
    clients.push(other);
    await other.connect();
    const running = other.query('SELECT count(*)::int AS n FROM orders');
    await waitUntil(async () => (await runningAt(t.demoAdminUrl, t.rolePrefix)) === 1, 10_000, 'the long query to run upstream');

    await nats.stop();
    const started = Date.now();
    // the statement that needs the bus while it is down: a clear error in bounded time, not a hang
    await assert.rejects(client.query('SELECT id FROM orders WHERE id = 2'), (err: { code: string; message: string }) => {
      assert.equal(err.code, '57014');
      assert.match(err.message, /policy service did not answer in time; retry the statement/);
      return true;
    });
    const failedAfter = Date.now() - started;
    assert.ok(failedAfter < 15_000, `the statement failed after ${failedAfter} ms`);
    await lock.release();
    // the query already running finishes upstream (the data path needs no bus), but its completion is not reported
    // while its audit record cannot be stored: the client is told so in its protocol, and the record is retried
    await assert.rejects(running, (err: { code: string; message: string }) => {
      assert.equal(err.code, '08006');
      assert.match(err.message, /could not store the audit record of this statement in time/);
      return true;
    });

    await nats.start();
    const recovered = await waitUntil(
      async () => (await client.query('SELECT id FROM orders WHERE id = 3')).rows[0]?.id === 3,
      20_000,
      'a statement to work again after NATS is back',
    );
    report('NATS restart: outage statement failed after', [failedAfter]);
    report('NATS restart: first statement working after restart', [recovered]);

    const closed = Date.now();
    await client.end();
    await other.end();
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 10_000, 'every lease role to be dropped');
    report('NATS restart: leases revoked after the clients closed', [Date.now() - closed]);
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);
    // every lease minted was revoked once, through the restart
    await waitUntil(
      async () => {
        const issued = await auditEvents(t, ['credential.v1.issued']);
        const revoked = await auditEvents(t, ['credential.v1.revoked']);
        return issued.length > 0 && revoked.length === issued.length;
      },
      20_000,
      'a revoked event for every issued lease',
    );
    const issued = (await auditEvents(t, ['credential.v1.issued'])).map((e) => e.payload.lease.leaseId).sort();
    const revoked = (await auditEvents(t, ['credential.v1.revoked'])).map((e) => e.payload.leaseId).sort();
    assert.deepEqual(revoked, issued);
    // the statement whose completion was withheld is in the log as completed, with the result it produced
    const [decided] = (await auditEvents(t, ['policy.v1.decided'])).filter((e) => e.payload.sql === 'SELECT count(*)::int AS n FROM orders');
    await waitUntil(
      async () => (await auditEvents(t, ['proxy.v1.query-completed'])).some((e) => e.payload.requestId === decided!.payload.requestId && e.payload.result.rows[0][0] === String(demoOrders().length)),
      20_000,
      'the withheld completion to be recorded',
    );
  });
});
