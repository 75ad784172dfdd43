import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { newContext, startService, type RunningService } from '@airlock/runtime';
import { service as credential } from '../../src/definition.js';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';
import { spawnService, type ServiceProcess } from '../../../../test/faults/helpers.js';

const SIZE = 3;
const principal = { subject: 'agent-pool', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };

describe('a pool of credentials made ahead for per-statement leases', () => {
  let t: TestStack;
  let state: pg.Client;
  let copy: RunningService | undefined;
  const children: ServiceProcess[] = [];
  let n = 0;

  before(async () => {
    // audit and policy beside the copies of the credential service that each test starts; leases need no heartbeat here
    t = await startTestStack({
      names: ['audit', 'policy'],
      env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600' },
      configure: (c) => {
        c['connections']['demo']['leases'] = { ...c['connections']['demo']['leases'], mode: 'statement', pool: { size: SIZE, maxWaitSeconds: 3600 } };
      },
    });
    state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
  });
  after(async () => {
    for (const c of children) await c.kill9();
    await copy?.close();
    await state?.end();
    await t?.close();
  });

  const pooled = async () =>
    (await state.query<{ username: string; state: string; owner: string }>('SELECT username, state, owner FROM pooled_credentials ORDER BY username')).rows;
  /** the pool's usernames once it holds `SIZE` ready credentials */
  const full = (what: string, also: (names: string[]) => boolean = () => true) =>
    eventually(
      async () => {
        const rows = await pooled();
        const names = rows.map((r) => r.username);
        return rows.length === SIZE && rows.every((r) => r.state === 'ready') && also(names) ? names : undefined;
      },
      20_000,
      what,
    );

  /** A lease request for a fresh per-statement decision by the real policy service. */
  async function leaseRequest(bus: RunningService['host']['bus']): Promise<credentialV1.IssueLeaseRequest> {
    const requestId = `r${++n}`;
    const sessionId = `s${n}`;
    const d = await bus.call(
      policyV1.decide,
      { requestId, sessionId, principal, connection: 'demo', sql: 'SELECT id FROM orders', frontend: 'pgwire' },
      newContext(),
    );
    assert.equal(d.scope?.leaseMode, 'statement');
    return { requestId, sessionId, connection: 'demo', principal, scope: d.scope!, holder: 'test', decision: d.token! };
  }

  async function issue(bus: RunningService['host']['bus']): Promise<credentialV1.LeaseGrant> {
    return bus.call(credentialV1.issueLease, await leaseRequest(bus), newContext(), { timeoutMs: 20_000 });
  }

  async function loginAs(username: string, password?: string): Promise<pg.Client> {
    const u = new URL(t.demoUrl);
    u.username = username;
    if (password !== undefined) u.password = password;
    const c = new pg.Client({ connectionString: u.toString() });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  it('fills to its size with roles that cannot log in, hold no password and belong to no role', async () => {
    copy = await startService(credential, t.env, { config: t.stack.config, logger: t.logger });
    const names = await full('the pool to fill');
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), names);
    const admin = new pg.Client({ connectionString: t.demoUrl });
    await admin.connect();
    const { rows } = await admin.query(
      `SELECT a.rolcanlogin, a.rolconnlimit, a.rolpassword IS NULL AS no_password, a.rolsuper,
              (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = a.oid OR m.roleid = a.oid) AS memberships
         FROM pg_authid a WHERE a.rolname = ANY($1) ORDER BY a.rolname`,
      [names],
    );
    await admin.end();
    assert.deepEqual(rows, names.map(() => ({ rolcanlogin: false, rolconnlimit: 0, no_password: true, rolsuper: false, memberships: 0 })));
    // this server trusts local connections: login itself is what keeps a pooled role out
    await assert.rejects(loginAs(names[0]!), (err: Error & { code?: string }) => err.code === '28000' && /not permitted to log in/.test(err.message));
  });

  it('hands each of more leases than it holds, at once, a distinct working role, revoked after, and refills', async () => {
    const bus = copy!.host.bus;
    const before = await full('the pool to be full');
    const leases = await Promise.all(Array.from({ length: SIZE + 2 }, () => issue(bus)));
    const usernames = leases.map((l) => l.username);
    assert.equal(new Set(usernames).size, SIZE + 2);
    // the oldest first: every credential pooled before the burst went to a lease, the rest were minted on demand or refilled
    for (const name of before) assert.ok(usernames.includes(name), 'each pooled role was leased');
    for (const lease of leases) {
      assert.equal(lease.upstream.type, 'postgres');
      const c = await loginAs(lease.username, lease.upstream.type === 'postgres' ? lease.upstream.password : '');
      assert.deepEqual((await c.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
      await c.end();
    }
    const states = await Promise.all(leases.map((l) => bus.call(credentialV1.revokeLease, { leaseId: l.leaseId, reason: 'statement-complete' }, newContext(), { timeoutMs: 20_000 })));
    assert.deepEqual(states.map((s) => s.state), leases.map(() => 'revoked'));
    const after = await full('the pool to refill', (names) => names.every((u) => !usernames.includes(u)));
    // nothing under the prefix but the refilled pool: each lease's role is gone
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), after);
  });

  it('refuses a replayed decision, sent again or twice at once, without losing a pooled role', async () => {
    const bus = copy!.host.bus;
    await full('the pool to be full');
    const req = await leaseRequest(bus);
    const both = await Promise.allSettled([0, 1].map(() => bus.call(credentialV1.issueLease, req, newContext(), { timeoutMs: 20_000 })));
    const granted = both.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(granted.length, 1);
    const refused = both.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: string }] : []));
    assert.deepEqual(refused.map((e) => e.code), ['credential.untrusted_decision']);
    await assert.rejects(bus.call(credentialV1.issueLease, req, newContext(), { timeoutMs: 20_000 }), (err: { code?: string }) => err.code === 'credential.untrusted_decision');
    const lease = granted[0]!;
    assert.equal((await bus.call(credentialV1.revokeLease, { leaseId: lease.leaseId, reason: 'statement-complete' }, newContext(), { timeoutMs: 20_000 })).state, 'revoked');
    // whatever the race took is revoked: under the prefix, only the refilled pool
    const pool = await full('the pool to refill', (names) => !names.includes(lease.username));
    await eventually(async () => ((await rolesWithPrefix(t.rolePrefix)).join() === pool.join() ? true : undefined), 10_000, 'only the pool left');
  });

  it('replaces credentials that waited longer than maxWaitSeconds', async () => {
    const old = await full('the pool to be full');
    // as if they had waited two hours: the next sweep revokes them and refills
    await state.query(`UPDATE pooled_credentials SET created_at = now() - interval '2 hours'`);
    const fresh = await full('the old credentials to be replaced', (names) => names.every((u) => !old.includes(u)));
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), fresh);
  });

  it("reconciliation keeps the pool's roles and removes a role the pool no longer holds", async () => {
    const names = await full('the pool to be full');
    // a role whose row is gone is no one's: the next copy's start-up reconciliation revokes it
    await state.query('DELETE FROM pooled_credentials WHERE username = $1', [names[0]]);
    const second = await startService(credential, t.env, { config: t.stack.config, logger: t.logger });
    try {
      const roles = await rolesWithPrefix(t.rolePrefix);
      assert.ok(!roles.includes(names[0]!), 'the role outside the pool was revoked');
      assert.ok(names.slice(1).every((u) => roles.includes(u)), "the pool's roles were kept");
    } finally {
      await second.close();
    }
  });

  it('hands a proxy standby credentials that log in once and read nothing until a lease of that proxy takes one; one its holder stops heartbeating is revoked', async () => {
    const bus = copy!.host.bus;
    await full('the pool to be full');
    const { standby } = await bus.call(credentialV1.standby, { connection: 'demo', holder: 'test', count: 2 }, newContext(), { timeoutMs: 20_000 });
    assert.equal(standby.length, 2);
    const password = (g: credentialV1.LeaseGrant) => (g.upstream.type === 'postgres' ? g.upstream.password : '');
    const sessions = await Promise.all(standby.map((g) => loginAs(g.username, password(g))));
    try {
      for (const [i, c] of sessions.entries()) {
        // the open session has the role's rights: none of the demo's
        await assert.rejects(c.query('SELECT id FROM orders WHERE id = 1'), (err: { code?: string }) => err.code === '42501');
        // and it is the only session the role may have
        await assert.rejects(loginAs(standby[i]!.username, password(standby[i]!)), (err: { code?: string }) => err.code === '53300');
      }
      const { rows } = await state.query<{ state: string; holder: string }>('SELECT state, holder FROM leases WHERE id = ANY($1::uuid[])', [standby.map((g) => g.leaseId)]);
      assert.deepEqual(rows, [{ state: 'standby', holder: 'test' }, { state: 'standby', holder: 'test' }]);

      // another proxy cannot take it; its holder can, and the session already open then reads under the lease's role
      const req = await leaseRequest(bus);
      await assert.rejects(
        bus.call(credentialV1.issueLease, { ...req, holder: 'another', standby: standby[0]!.leaseId }, newContext(), { timeoutMs: 20_000 }),
        (err: { code?: string }) => err.code === 'credential.standby_gone',
      );
      const lease = await bus.call(credentialV1.issueLease, { ...req, standby: standby[0]!.leaseId }, newContext(), { timeoutMs: 20_000 });
      assert.equal(lease.leaseId, standby[0]!.leaseId);
      assert.equal(lease.username, standby[0]!.username);
      assert.equal(password(lease), '', 'no secret travels again');
      assert.deepEqual((await sessions[0]!.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
      // the decision is spent: it takes no other standby
      await assert.rejects(
        bus.call(credentialV1.issueLease, { ...req, standby: standby[1]!.leaseId }, newContext(), { timeoutMs: 20_000 }),
        (err: { code?: string }) => err.code === 'credential.untrusted_decision',
      );
      assert.equal((await bus.call(credentialV1.revokeLease, { leaseId: lease.leaseId, reason: 'statement-complete' }, newContext(), { timeoutMs: 20_000 })).state, 'revoked');
      assert.ok(!(await rolesWithPrefix(t.rolePrefix)).includes(lease.username));

      // the other one is never heartbeated (its proxy died): a copy that counts 2 s of silence as death revokes it
      const second = await startService(credential, { ...t.env, AIRLOCK_HEARTBEAT_GRACE_SECONDS: '2', AIRLOCK_CREDENTIAL_SWEEP_SECONDS: '1' }, { config: t.stack.config, logger: t.logger });
      try {
        const reason = await eventually(
          async () => {
            const { rows: r } = await state.query<{ state: string; revoke_reason: string | null }>('SELECT state, revoke_reason FROM leases WHERE id = $1', [standby[1]!.leaseId]);
            return r[0]?.state === 'revoked' ? r[0].revoke_reason : undefined;
          },
          20_000,
          'the unheartbeated standby lease to be revoked',
        );
        assert.equal(reason, 'heartbeat-lost');
      } finally {
        await second.close();
      }
      assert.ok(!(await rolesWithPrefix(t.rolePrefix)).includes(standby[1]!.username));
      await assert.rejects(sessions[1]!.query('SELECT 1'));
    } finally {
      for (const c of sessions) await c.end().catch(() => undefined);
    }
  });

  it('revokes the whole pool at shutdown', async () => {
    await full('the pool to be full');
    await copy!.close();
    copy = undefined;
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
    assert.deepEqual(await pooled(), []);
  });

  it('leaves nothing after a crash: the restarted service revokes what the dead process pooled', async () => {
    const doomed = spawnService('credential', t.env);
    children.push(doomed);
    await doomed.waitFor(/credential service running/);
    const orphans = await full('the doomed process to fill the pool');
    await doomed.kill9();
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), orphans);
    // the dead process's heartbeat lapses after 2 s: the restarted copy revokes its credentials and pools its own
    copy = await startService(credential, { ...t.env, AIRLOCK_HEARTBEAT_GRACE_SECONDS: '2' }, { config: t.stack.config, logger: t.logger });
    const fresh = await full('the dead process’s credentials to be replaced', (names) => names.every((u) => !orphans.includes(u)));
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), fresh);
    await copy.close();
    copy = undefined;
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
    assert.deepEqual(await pooled(), []);
  });
});
