import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { newContext } from '@airlock/runtime';
import { service as policy } from '@airlock/policy';
import { startTestStack, type TestStack } from '@airlock/testkit';
import { service as credential } from '../../src/definition.js';

describe('credential.v1.list-leases: the live leases, without a secret, for the console', () => {
  let t: TestStack;

  before(async () => {
    // policy signs the decisions leases are minted for; nothing else runs
    t = await startTestStack({ services: [policy, credential], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600' } });
  });
  after(async () => {
    await t?.close();
  });

  it('lists what is active or being revoked, in connection and age order, and drops what is revoked', async () => {
    const bus = t.stack.services.find((s) => s.name === 'credential')!.host.bus;
    const principal = { subject: 'agent-list', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };
    const issue = async (i: number) => {
      const d = await bus.call(
        policyV1.decide,
        { requestId: `r${i}`, sessionId: `s${i}`, principal, connection: 'demo', sql: 'SELECT id FROM orders', frontend: 'pgwire' },
        newContext(),
      );
      return bus.call(
        credentialV1.issueLease,
        { requestId: `r${i}`, sessionId: `s${i}`, connection: 'demo', principal, scope: d.scope!, holder: 'test', decision: d.token! },
        newContext(),
        { timeoutMs: 20_000 },
      );
    };
    assert.deepEqual(await bus.call(credentialV1.listLeases, {}, newContext()), { leases: [] });
    const first = await issue(1);
    const second = await issue(2);
    const { leases } = await bus.call(credentialV1.listLeases, {}, newContext());
    assert.deepEqual(
      leases.map((l) => [l.leaseId, l.connection, l.username, l.subject, l.sessionId, l.state, l.expiresAt]),
      [
        [first.leaseId, 'demo', first.username, 'agent-list', 's1', 'active', first.expiresAt],
        [second.leaseId, 'demo', second.username, 'agent-list', 's2', 'active', second.expiresAt],
      ],
    );
    for (const l of leases) {
      assert.deepEqual(Object.keys(l).sort(), ['connection', 'createdAt', 'expiresAt', 'leaseId', 'mode', 'role', 'sessionId', 'state', 'subject', 'username']);
      assert.ok(Date.parse(l.createdAt) <= Date.parse(l.expiresAt));
    }
    // no part of the upstream grant (its password) travels in the listing
    const password = first.upstream.type === 'postgres' ? first.upstream.password : '';
    assert.ok(password.length > 0);
    assert.ok(!JSON.stringify(leases).includes(password));

    assert.equal((await bus.call(credentialV1.revokeLease, { leaseId: first.leaseId, reason: 'client-terminated' }, newContext())).state, 'revoked');
    assert.deepEqual(
      (await bus.call(credentialV1.listLeases, {}, newContext())).leases.map((l) => l.leaseId),
      [second.leaseId],
    );
    await bus.call(credentialV1.revokeLease, { leaseId: second.leaseId, reason: 'client-terminated' }, newContext());
  });
});
