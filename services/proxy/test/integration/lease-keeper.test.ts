import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { credentialV1 } from '@airlock/contracts';
import { createLogger, newContext, type Bus } from '@airlock/runtime';
import { service as policy } from '@airlock/policy';
import { service as credential } from '@airlock/credential';
import { databaseUrl, issueDemoLease, startTestStack, type TestStack } from '@airlock/testkit';
import { LeaseKeeper } from '../../src/core/lease-keeper.js';

/**
 * The keeper against the real credential service, which answers a lease whose row is locked as a revocation locks it
 * as unknown, without waiting. A standby lease that a statement takes is locked so for a moment (its decision id, a
 * key, is written), and the proxy holds it anew under the statement: a heartbeat sent before that must not end the
 * statement's session.
 */
describe('LeaseKeeper heartbeats', () => {
  const holder = 'keeper-test';
  const logger = createLogger({ service: 'keeper-test', level: 'silent' });
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

  const issue = (requestId: string) => issueDemoLease(bus, { requestId, holder, subject: 'agent-keeper' });
  /** a keeper of its own (its timer never fires in a test) holding a fresh lease, whose losses are recorded */
  const withKeeper = async (requestId: string, test: (keeper: LeaseKeeper, leaseId: string, lost: string[]) => Promise<void>) => {
    const lease = await issue(requestId);
    const keeper = new LeaseKeeper(bus, holder, 3600, logger);
    try {
      await test(keeper, lease.leaseId, []);
    } finally {
      keeper.stop();
    }
  };

  it('leaves a lease held anew during a heartbeat to the next one, and reports it lost once it is revoked', async () => {
    await withKeeper('keeper-1', async (keeper, leaseId, lost) => {
      keeper.hold(leaseId, () => lost.push('first hold'));
      // another transaction holds the lease's row, as the statement taking a standby lease does for a moment
      await state.query('BEGIN');
      await state.query('SELECT 1 FROM leases WHERE id = $1 FOR UPDATE', [leaseId]);
      assert.deepEqual(await bus.call(credentialV1.heartbeat, { holder, leaseIds: [leaseId] }, newContext()), { renewed: [], unknown: [leaseId] });
      // the heartbeat leaves with the first hold; the lease is held again before its answer arrives
      const beat = keeper.beat();
      keeper.hold(leaseId, () => lost.push('second hold'));
      await beat;
      assert.deepEqual(lost, []);
      assert.equal(keeper.size, 1);
      await state.query('ROLLBACK');

      await keeper.beat();
      assert.deepEqual(lost, []);
      assert.equal(keeper.size, 1);

      assert.equal((await bus.call(credentialV1.revokeLease, { leaseId, reason: 'client-terminated' }, newContext())).state, 'revoked');
      await keeper.beat();
      assert.deepEqual(lost, ['second hold']);
      assert.equal(keeper.size, 0);
    }).finally(() => state.query('ROLLBACK').catch(() => undefined));
  });

  it('never answers its own heartbeats unknown: a check of one lease and the periodic heartbeat run one after the other', async () => {
    await withKeeper('keeper-3', async (keeper, leaseId, lost) => {
      keeper.hold(leaseId, () => lost.push('hold'));
      // two heartbeats at once renew the same row: neither may answer it unknown (a credential service that skipped
      // every locked row did, and the keeper still sends them one at a time for one)
      for (let i = 0; i < 40; i++) {
        const [live] = await Promise.all([keeper.live(leaseId), keeper.beat(), keeper.beat()]);
        assert.equal(live, true, `check ${i}`);
      }
      assert.deepEqual(lost, []);
      assert.equal(keeper.size, 1);
    });
  });

  it('reports a lease lost when the same hold is answered unknown', async () => {
    await withKeeper('keeper-2', async (keeper, leaseId, lost) => {
      keeper.hold(leaseId, () => lost.push('hold'));
      await bus.call(credentialV1.revokeLease, { leaseId, reason: 'client-terminated' }, newContext());
      await keeper.beat();
      assert.deepEqual(lost, ['hold']);
      assert.equal(keeper.size, 0);
    });
  });
});
