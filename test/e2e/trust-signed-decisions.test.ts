import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SignJWT, decodeProtectedHeader, generateKeyPair } from 'jose';
import { approvalV1, credentialV1, identityV1, policyV1, type Principal } from '@airlock/contracts';
import { Bus, digest, newContext } from '@airlock/runtime';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

/**
 * What anyone who can publish on the bus would try: mint a lease for a role of their choosing, choose their own
 * approvers, replay or alter a decision, or change the bind parameters of an approved statement. Each is refused.
 */

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
  return { code: 'resolved', message: '' };
}

async function stateRows<T extends pg.QueryResultRow>(t: TestStack, sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

/** Replaces claims in a signed token's payload and keeps the original signature. */
function altered(token: string, change: (claims: Record<string, any>) => void): string {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8'));
  change(claims);
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}

describe('services do not take each other’s word', () => {
  let t: TestStack;
  let forger: Bus;
  let agent: Principal;
  let analystToken: string;
  let dbaToken: string;

  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        // answer "pending" at once, so the test drives each step
        c['approval'] = { ...(c['approval'] ?? {}), holdSeconds: 0 };
      },
    });
    forger = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'forger', logger: t.logger });
    analystToken = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    dbaToken = await t.token({ subject: 'dba-1', groups: ['dba'], audience: 'http://127.0.0.1:8081' });
    agent = (await forger.call(identityV1.verifyToken, { token: analystToken }, newContext())).principal;
  });
  after(async () => {
    await forger?.close();
    await t?.close();
  });

  const decide = (sql: string, sessionId = 's-forger', paramsDigest?: string) => {
    const ctx = newContext();
    return forger.call(
      policyV1.decide,
      { requestId: ctx.requestId, sessionId, principal: agent, connection: 'demo', sql, frontend: 'pgwire', ...(paramsDigest ? { paramsDigest } : {}) },
      ctx,
    );
  };
  const issue = (sessionId: string, role: string, extra: Partial<credentialV1.IssueLeaseRequest> = {}, ttlSeconds = 3600, leaseMode: 'session' | 'statement' = 'session') =>
    forger.call(
      credentialV1.issueLease,
      { requestId: newContext().requestId, sessionId, connection: 'demo', principal: agent, scope: { role, ttlSeconds, leaseMode }, holder: 'forger', ...extra },
      newContext(),
      { timeoutMs: 20_000 },
    );

  it('refuses a forged issue for the postgres role, creates nothing, and raises an alert event', async () => {
    const forged = await refusal(issue('s-forged', 'postgres'));
    assert.equal(forged.code, 'credential.untrusted_decision');
    assert.match(forged.message, /role "postgres" is not one of the roles connection "demo" configures/);
    // a role the connection does configure, but no decision: refused as well
    const unsigned = await refusal(issue('s-forged', 'demo_reader'));
    assert.deepEqual([unsigned.code, /no signed policy decision/.test(unsigned.message)], ['credential.untrusted_decision', true]);
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
    const alerts = await eventually(async () => {
      const rows = await stateRows<{ payload: any }>(t, `SELECT payload FROM audit_events WHERE event_type = 'credential.v1.refused' ORDER BY seq`);
      return rows.length >= 2 ? rows : undefined;
    });
    assert.deepEqual(
      alerts.map((r) => [r.payload.role, r.payload.subject, r.payload.connection]),
      [
        ['postgres', 'agent-1', 'demo'],
        ['demo_reader', 'agent-1', 'demo'],
      ],
    );
  });

  it('refuses an altered decision, a decision signed by another key, and a replayed one', async () => {
    const d = await decide('SELECT id FROM orders');
    assert.equal(d.outcome, 'allow');
    const scope = d.scope!;
    const token = d.token!;
    // the role changed in the signed payload: the signature no longer holds
    const toPostgres = altered(token, (c) => (c['scope'].role = 'postgres'));
    assert.equal((await refusal(issue('s-forger', 'postgres', { decision: toPostgres }))).code, 'credential.untrusted_decision');
    const otherRole = altered(token, (c) => (c['scope'].role = 'demo_writer'));
    const alteredRefusal = await refusal(issue('s-forger', 'demo_writer', { decision: otherRole }));
    assert.deepEqual([alteredRefusal.code, /does not verify/.test(alteredRefusal.message)], ['credential.untrusted_decision', true]);
    // the same claims signed by a key of the forger's own, under the policy key's id
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
    const own = await new SignJWT({ ...claims, scope: { ...claims.scope, role: 'demo_writer' } })
      .setProtectedHeader({ alg: 'EdDSA', kid: decodeProtectedHeader(token).kid!, typ: 'airlock-decision+jwt' })
      .sign(privateKey);
    assert.equal((await refusal(issue('s-forger', 'demo_writer', { decision: own }))).code, 'credential.untrusted_decision');
    // the decision asks for one scope, the request another
    const widened = await refusal(issue('s-forger', scope.role, { decision: token }, 8 * 3600, scope.leaseMode));
    assert.deepEqual([widened.code, /another scope/.test(widened.message)], ['credential.untrusted_decision', true]);
    // for another session than the one it was decided for
    assert.equal((await refusal(issue('s-elsewhere', scope.role, { decision: token }, scope.ttlSeconds, scope.leaseMode))).code, 'credential.untrusted_decision');
    // used once, as decided
    const lease = await issue('s-forger', scope.role, { decision: token }, scope.ttlSeconds, scope.leaseMode);
    assert.equal((await rolesWithPrefix(t.rolePrefix)).length, 1);
    // then replayed
    const replay = await refusal(issue('s-forger', scope.role, { decision: token }, scope.ttlSeconds, scope.leaseMode));
    assert.deepEqual([replay.code, /already used/.test(replay.message)], ['credential.untrusted_decision', true]);
    assert.equal((await rolesWithPrefix(t.rolePrefix)).length, 1);
    await forger.call(credentialV1.revokeLease, { leaseId: lease.leaseId, reason: 'test' }, newContext(), { timeoutMs: 20_000 });
  });

  it('refuses a decision that required approval without a grant signed for it', async () => {
    const d = await decide('DELETE FROM orders WHERE id = 20');
    assert.equal(d.outcome, 'approval-required');
    const s = d.scope!;
    const noGrant = await refusal(issue('s-forger', s.role, { decision: d.token! }, s.ttlSeconds, s.leaseMode));
    assert.deepEqual([noGrant.code, /no signed grant/.test(noGrant.message)], ['credential.untrusted_decision', true]);
  });

  it('refuses a submit that names its own approvers, or carries no signed decision', async () => {
    const sql = 'DELETE FROM orders WHERE id = 3';
    const d = await decide(sql);
    assert.deepEqual([d.outcome, d.approval], ['approval-required', { approverGroups: ['dba'], quorum: 1 }]);
    const a = d.analysis!;
    const base: approvalV1.SubmitApprovalRequest = {
      requestId: newContext().requestId,
      sessionId: 's-forger',
      principal: agent,
      connection: 'demo',
      sql: a.normalized,
      fingerprint: a.fingerprint,
      kind: a.kind,
      tables: a.tables.map((x) => `${x.schema}.${x.table}`),
      rule: d.rule,
      approverGroups: ['analysts'],
      quorum: 1,
    };
    const unsigned = await refusal(forger.call(approvalV1.submitApproval, base, newContext()));
    assert.equal(unsigned.code, 'approval.untrusted_decision');
    const otherApprovers = await refusal(forger.call(approvalV1.submitApproval, { ...base, decision: d.token! }, newContext()));
    assert.deepEqual([otherApprovers.code, /approvers and quorum come from the policy decision/.test(otherApprovers.message)], ['approval.untrusted_decision', true]);
    const lowerQuorumAltered = altered(d.token!, (c) => (c['appr'] = { groups: ['analysts'], quorum: 1 }));
    assert.equal((await refusal(forger.call(approvalV1.submitApproval, { ...base, decision: lowerQuorumAltered }, newContext()))).code, 'approval.untrusted_decision');
    const otherStatement = await refusal(
      forger.call(approvalV1.submitApproval, { ...base, approverGroups: ['dba'], sql: 'DELETE FROM orders', decision: d.token! }, newContext()),
    );
    assert.equal(otherStatement.code, 'approval.untrusted_decision');
    // nothing was recorded for a fellow analyst to approve
    assert.deepEqual(await stateRows(t, 'SELECT id FROM approval_requests'), []);
  });

  it('holds again a statement whose bind parameters changed after approval', async () => {
    const c = new pg.Client({ connectionString: t.pgUrl(analystToken) });
    await c.connect();
    const direct = new pg.Client({ connectionString: t.demoUrl });
    await direct.connect();
    try {
      const update = 'UPDATE orders SET total = $1 WHERE id = $2';
      const totals = async () => (await direct.query<{ id: number; total: string }>('SELECT id, total::text FROM orders WHERE id IN (1, 4) ORDER BY id')).rows;
      const before = await totals();
      const first = await refusal(c.query(update, ['11.00', 1]));
      assert.equal(first.code, '57014');
      const approvalId = /request ([0-9a-f-]{36})/.exec(first.message)![1]!;
      const view = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${dbaToken}` } });
      // the approver sees the values the grant is bound to
      assert.deepEqual(((await view.json()) as any).params, ['11.00', '1']);
      const approved = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dbaToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'order 1 only' }),
      });
      assert.equal(approved.status, 200);
      // the approved statement with other values: held again, as a new request, and nothing changed
      const changed = await refusal(c.query(update, ['999.00', 4]));
      assert.equal(changed.code, '57014');
      const again = /request ([0-9a-f-]{36})/.exec(changed.message)![1]!;
      assert.notEqual(again, approvalId);
      assert.deepEqual(await totals(), before);
      // the values that were approved run, once
      const ran = await c.query(update, ['11.00', 1]);
      assert.equal(ran.rowCount, 1);
      assert.deepEqual((await totals()).map((r) => r.total), ['11.00', before[1]!.total]);
      const replay = await refusal(c.query(update, ['11.00', 1]));
      assert.equal(replay.code, '57014');
      const grants = await stateRows<{ params_digest: string }>(t, 'SELECT params_digest FROM approval_grants WHERE approval_id = $1', [approvalId]);
      assert.deepEqual(grants, [{ params_digest: digest(['11.00', '1']) }]);
    } finally {
      await c.end();
      await direct.end();
    }
  });

  it('hands what a lease created to the powerless leftover role on revocation, never to the admin', async () => {
    const admin = new pg.Client({ connectionString: t.demoUrl });
    await admin.connect();
    try {
      // in this test's own demo database only: the reader role may create functions
      await admin.query('GRANT CREATE ON SCHEMA public TO demo_reader');
      const d = await decide('SELECT id FROM orders', 's-leftovers');
      const s = d.scope!;
      assert.equal(s.role, 'demo_reader');
      const lease = await issue('s-leftovers', s.role, { decision: d.token! }, s.ttlSeconds, s.leaseMode);
      assert.equal(lease.upstream.type, 'postgres');
      const up = lease.upstream as Extract<credentialV1.LeaseGrant['upstream'], { type: 'postgres' }>;
      const leased = new pg.Client({ host: up.host, port: up.port, database: up.database, user: lease.username, password: up.password });
      await leased.connect();
      await leased.query(`CREATE FUNCTION public.leftover_whoami() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user::text'`);
      await leased.query(`CREATE FUNCTION public.leftover_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM public.customers'`);
      assert.equal((await leased.query('SELECT public.leftover_whoami() AS who')).rows[0].who, lease.username);
      await leased.end();
      const revoked = await forger.call(credentialV1.revokeLease, { leaseId: lease.leaseId, reason: 'test' }, newContext(), { timeoutMs: 20_000 });
      assert.equal(revoked.state, 'revoked');
      const owners = await admin.query<{ proname: string; owner: string }>(
        `SELECT proname, pg_get_userbyid(proowner) AS owner FROM pg_proc WHERE proname LIKE 'leftover_%' ORDER BY proname`,
      );
      assert.deepEqual(owners.rows, [
        { proname: 'leftover_count', owner: 'airlock_leftovers' },
        { proname: 'leftover_whoami', owner: 'airlock_leftovers' },
      ]);
      const role = await admin.query(
        `SELECT rolcanlogin, rolsuper, rolinherit, (SELECT count(*)::int FROM pg_auth_members m WHERE m.roleid = r.oid OR m.member = r.oid) AS members
           FROM pg_roles r WHERE rolname = 'airlock_leftovers'`,
      );
      assert.deepEqual(role.rows, [{ rolcanlogin: false, rolsuper: false, rolinherit: false, members: 0 }]);
      // run by anyone, even the admin, they have the rights of nobody
      assert.equal((await admin.query('SELECT public.leftover_whoami() AS who')).rows[0].who, 'airlock_leftovers');
      const denied = await refusal(admin.query('SELECT public.leftover_count()'));
      assert.equal(denied.code, '42501');
    } finally {
      await admin.end();
    }
  });
});
