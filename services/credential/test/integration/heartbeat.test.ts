import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { credentialV1 } from '@airlock/contracts';
import { newContext, type Bus } from '@airlock/runtime';
import { service as policy } from '@airlock/policy';
import { databaseUrl, issueDemoLease, startTestStack, type TestStack } from '@airlock/testkit';
import { service as credential } from '../../src/definition.js';

/**
 * `credential.v1.heartbeat` answers unknown exactly the leases that are revoked or being revoked: a lease whose row an
 * ordinary update holds for a moment is renewed once that update ends, never answered unknown (its proxy would end
 * the session as revoked).
 */
describe('credential.v1.heartbeat', () => {
  const holder = 'heartbeat-test';
  let t: TestStack;
  let bus: Bus;
  let state: pg.Client;

  before(async () => {
    t = await startTestStack({ services: [policy, credential], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600' } });
    bus = t.stack.services.find((s) => s.name === 'credential')!.host.bus;
    state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
  });
  after(async () => {
    await state?.end();
    await t?.close();
  });

  const issue = (requestId: string) => issueDemoLease(bus, { requestId, holder, subject: 'agent-heartbeat' });
  const heartbeat = (leaseIds: string[]) => bus.call(credentialV1.heartbeat, { holder, leaseIds }, newContext());
  const heartbeatAt = async (id: string) => (await state.query<{ at: Date }>('SELECT heartbeat_at AS at FROM leases WHERE id = $1', [id])).rows[0]!.at.getTime();

  it('renews a lease whose row another update holds once that update commits', async () => {
    const [a, b] = [await issue('hb-1'), await issue('hb-2')];
    const before = await heartbeatAt(a.leaseId);
    // an ordinary update of the row, as recording an upstream session or a second heartbeat makes
    await state.query('BEGIN');
    await state.query('UPDATE leases SET last_error = last_error WHERE id = $1', [a.leaseId]);
    let answered = false;
    const beat = heartbeat([a.leaseId, b.leaseId]).finally(() => (answered = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, 'the renewal waits for the update');
    await state.query('COMMIT');
    const answer = await beat;
    assert.deepEqual({ renewed: [...answer.renewed].sort(), unknown: answer.unknown }, { renewed: [a.leaseId, b.leaseId].sort(), unknown: [] });
    assert.ok((await heartbeatAt(a.leaseId)) > before);
  });

  it('answers a lease whose revocation holds its row unknown at once, and renews the others', async () => {
    const [a, b] = [await issue('hb-3'), await issue('hb-4')];
    // the lock a revocation holds while it ends the lease upstream
    await state.query('BEGIN');
    await state.query('SELECT 1 FROM leases WHERE id = $1 FOR UPDATE', [a.leaseId]);
    try {
      assert.deepEqual(await heartbeat([a.leaseId, b.leaseId]), { renewed: [b.leaseId], unknown: [a.leaseId] });
    } finally {
      await state.query('ROLLBACK');
    }
    assert.deepEqual(await heartbeat([a.leaseId]), { renewed: [a.leaseId], unknown: [] });
  });

  it('answers a revoked lease, and one held by another proxy, unknown', async () => {
    const a = await issue('hb-5');
    assert.equal((await bus.call(credentialV1.revokeLease, { leaseId: a.leaseId, reason: 'client-terminated' }, newContext())).state, 'revoked');
    assert.deepEqual(await heartbeat([a.leaseId]), { renewed: [], unknown: [a.leaseId] });
    const b = await issue('hb-6');
    assert.deepEqual(await bus.call(credentialV1.heartbeat, { holder: 'another-proxy', leaseIds: [b.leaseId] }, newContext()), { renewed: [], unknown: [b.leaseId] });
  });
});
