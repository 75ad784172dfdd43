import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startNatsServer, startPostgresCluster, type OwnServer } from '@airlock/testkit';
import { auditEvents, backendsAt, leaseRows, report, rolesAt, startFaultStack, waitUntil } from './helpers.js';

const sessions = 200;

describe('fault: 200 sessions opened and closed concurrently through the proxy', () => {
  let nats: OwnServer;
  let cluster: Awaited<ReturnType<typeof startPostgresCluster>>;
  let t: Awaited<ReturnType<typeof startFaultStack>>;

  before(async () => {
    nats = await startNatsServer();
    // 200 upstream sessions at once need more than the shared server's 100 connections
    cluster = await startPostgresCluster({ maxConnections: 400 });
    t = await startFaultStack({
      nats,
      demoServer: cluster,
      env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '60' },
      // one principal's 200 connections from one address, all opening at once: above the default limits on purpose
      configure: (c) => {
        c['proxy'] = {
          ...c['proxy'],
          limits: { ...c['proxy']?.limits, maxUnauthenticatedPerAddress: sessions, sessionsPerPrincipal: sessions, statementsPerPrincipal: sessions },
        };
      },
    });
  });
  after(async () => {
    await t?.close();
    await cluster?.destroy();
    await nats?.destroy();
  });

  it('answers every statement and leaks no role', async () => {
    const token = await t.token({ subject: 'agent-crowd', groups: ['analysts'] });
    const errors: string[] = [];
    const closedAt: number[] = [];
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: sessions }, async (_, i) => {
        const client = new pg.Client({ connectionString: t.pgUrl(token) });
        try {
          await client.connect();
          const id = (i % 20) + 1;
          const { rows } = await client.query('SELECT id FROM orders WHERE id = $1', [id]);
          return rows[0]?.id === id;
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
          return false;
        } finally {
          await client.end().catch((err: Error) => errors.push(err.message));
          closedAt.push(Date.now());
        }
      }),
    );
    const ranMs = Date.now() - started;
    assert.deepEqual(errors, []);
    assert.equal(results.filter(Boolean).length, sessions);
    const lastClose = Math.max(...closedAt);
    await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 30_000, 'every lease role to be dropped').catch(async (err) => {
      const rows = await leaseRows(t);
      const states = new Map<string, number>();
      for (const r of rows) states.set(`${r.state}/${r.revoke_reason}/${r.revoke_attempts}`, (states.get(`${r.state}/${r.revoke_reason}/${r.revoke_attempts}`) ?? 0) + 1);
      throw new Error(`${(err as Error).message}; leases by state/reason/attempts: ${JSON.stringify([...states])}`);
    });
    const drainMs = Date.now() - lastClose;
    assert.equal(await backendsAt(t.demoAdminUrl, t.rolePrefix), 0);
    await waitUntil(async () => (await auditEvents(t, ['credential.v1.revoked'])).length === sessions, 30_000, `${sessions} revoked events`);
    const issued = (await auditEvents(t, ['credential.v1.issued'])).map((e) => e.payload.lease.leaseId as string);
    const revoked = (await auditEvents(t, ['credential.v1.revoked'])).map((e) => e.payload);
    assert.equal(issued.length, sessions);
    assert.equal(new Set(issued).size, sessions);
    assert.deepEqual(revoked.map((r) => r.leaseId).sort(), [...issued].sort());
    assert.deepEqual([...new Set(revoked.map((r) => r.reason))], ['client-terminated']);
    assert.deepEqual(await auditEvents(t, ['credential.v1.revoke-failed']), []);
    report(`${sessions} sessions: wall time to run them all`, [ranMs]);
    report(`${sessions} sessions: revoke duration per lease (credential service)`, revoked.map((r) => r.durationMs as number));
    report(`${sessions} sessions: last close to no lease role left`, [drainMs]);
  });
});
