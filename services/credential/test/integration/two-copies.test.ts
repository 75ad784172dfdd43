import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { newContext, startService, type RunningService } from '@airlock/runtime';
import { service as credential } from '../../src/definition.js';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

const leases = 40;

describe('two credential-service copies sweeping the same leases at once', () => {
  let t: TestStack;
  const copies: RunningService[] = [];

  before(async () => {
    // audit records the events, policy signs the decisions leases are minted for; the two copies run beside them, each with its own bus connection and pool
    t = await startTestStack({ names: ['audit', 'policy'], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600' } });
    for (let i = 0; i < 2; i++) copies.push(await startService(credential, t.env, { config: t.stack.config, logger: t.logger }));
  });
  after(async () => {
    for (const c of copies) await c.close();
    await t?.close();
  });

  it('revokes every lease exactly once, with no error', async () => {
    const bus = copies[0]!.host.bus;
    const principal = { subject: 'agent-copies', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };
    const issued = await Promise.all(
      Array.from({ length: leases }, async (_, i) => {
        // a lease is minted only against a decision policy signed for it
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
      }),
    );
    assert.equal((await rolesWithPrefix(t.rolePrefix)).length, leases);
    // every lease falls due at once for both sweepers, while the proxy's own revocations race them on both copies
    const state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
    await state.query('UPDATE leases SET expires_at = now()');
    const direct = await Promise.all(
      issued.flatMap((l) => [0, 1].map(() => bus.call(credentialV1.revokeLease, { leaseId: l.leaseId, reason: 'client-terminated' }, newContext(), { timeoutMs: 20_000 }))),
    );
    assert.ok(direct.every((r) => r.state === 'revoked' || r.state === 'revoking'), JSON.stringify(direct.filter((r) => r.state !== 'revoked')));
    await eventually(async () => ((await rolesWithPrefix(t.rolePrefix)).length === 0 ? true : undefined), 20_000, 'every role dropped');
    const { rows } = await state.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM leases GROUP BY state');
    assert.deepEqual(rows.map((r) => [r.state, Number(r.n)]), [['revoked', leases]]);
    await eventually(
      async () => {
        const { rows: e } = await state.query<{ event_type: string; lease: string }>(
          `SELECT event_type, payload->>'leaseId' AS lease FROM audit_events WHERE event_type IN ('credential.v1.revoked', 'credential.v1.revoke-failed')`,
        );
        return e.length >= leases ? e : undefined;
      },
      20_000,
      'revoked events',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const { rows: all } = await state.query<{ event_type: string; lease: string }>(
      `SELECT event_type, payload->>'leaseId' AS lease FROM audit_events WHERE event_type IN ('credential.v1.revoked', 'credential.v1.revoke-failed')`,
    );
    await state.end();
    assert.deepEqual(all.filter((e) => e.event_type !== 'credential.v1.revoked'), []);
    assert.deepEqual(all.map((e) => e.lease).sort(), issued.map((l) => l.leaseId).sort());
    const errors = t.logs.lines.filter((l) => JSON.parse(l).level >= 50);
    assert.deepEqual(errors, []);
  });
});
