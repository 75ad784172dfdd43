// A session lives no longer than the token that opened it. On the PostgreSQL door a statement sent after the token's
// `exp` ends the connection with a FATAL naming the expiry (SQLSTATE 28000), and the session's lease was revoked at
// the expiry itself. On the Snowflake door no login outlives its token: the driver's renewal answers 390114 ("the user
// must authenticate again") once the OIDC token has expired, however often it renewed before. Real clients: `pg` and
// the unmodified snowflake-sdk.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { startService, type RunningService } from '@airlock/cli';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function onState<T>(t: TestStack, sql: string, args: unknown[]): Promise<T[]> {
  const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
  await c.connect();
  try {
    return (await c.query(sql, args)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('a session ends with its token', () => {
  let t: TestStack;
  before(async () => {
    t = await startTestStack({ keepWarehouse: true });
  });
  after(async () => {
    await t?.close();
  });

  it('PostgreSQL: a statement 5 s after exp ends the connection with FATAL 28000 naming the expiry; the lease was revoked at exp', async () => {
    const token = await t.token({ subject: 'agent-exp', groups: ['analysts'], ttlSeconds: 4 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    const client = new pg.Client({ connectionString: t.pgUrl(token) });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    await client.connect();
    try {
      assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
      const leases = await onState<{ id: string; state: string }>(t, "SELECT id, state FROM leases WHERE subject = 'agent-exp'", []);
      assert.deepEqual(leases.map((l) => l.state), ['active']);

      await sleep(exp * 1000 + 5000 - Date.now());
      assert.equal(errors.length, 0, 'nothing arrived unasked before the statement');
      // the lease ended at the token's expiry, before the client said anything
      const revoked = await onState<{ state: string; revoke_reason: string }>(t, 'SELECT state, revoke_reason FROM leases WHERE id = $1', [leases[0]!.id]);
      assert.deepEqual(revoked, [{ state: 'revoked', revoke_reason: 'token-expired' }]);
      await assert.rejects(client.query('SELECT id FROM orders WHERE id = 1'), (err: { code?: string; severity?: string; message: string }) => {
        assert.equal(err.code, '28000');
        assert.equal(err.severity, 'FATAL');
        assert.equal(
          err.message,
          `your token expired at ${new Date(exp * 1000).toISOString()}: Airlock ended this session and revoked its database credential; connect again with a fresh token`,
        );
        return true;
      });
      await assert.rejects(client.query('SELECT 1'), /not queryable|Connection terminated|ended/i);
    } finally {
      await client.end().catch(() => undefined);
    }
    // the session closed for the expiry, in the audit log
    await eventually(async () => {
      const rows = await onState<{ reason: string }>(
        t,
        "SELECT payload->>'reason' AS reason FROM audit_events WHERE event_type = 'proxy.v1.session-closed' AND payload->>'sessionId' IN (SELECT session_id FROM leases WHERE subject = 'agent-exp')",
        [],
      );
      assert.deepEqual(rows, [{ reason: 'token-expired' }]);
      return true;
    }, 10_000, 'the session-closed event');
  });

  it('Snowflake: the unmodified driver is told to authenticate again once the token expired, and the lease is revoked', async () => {
    const token = await t.token({ subject: 'agent-exp-sf', groups: ['analysts'], ttlSeconds: 4 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    const conn = snowflake.createConnection({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token } as snowflake.ConnectionOptions);
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    const exec = (sqlText: string) =>
      new Promise<unknown[]>((resolve, reject) => conn.execute({ sqlText, complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }));
    try {
      assert.deepEqual(await exec('SELECT id FROM orders WHERE id = 1'), [{ ID: 1 }]);
      await sleep(exp * 1000 + 5000 - Date.now());
      // the door answers 390112, the driver renews with its master token, gets 390114 and disconnects (sf.js StateRenewing)
      await assert.rejects(exec('SELECT id FROM orders WHERE id = 1'), (err: { code?: string | number; message: string }) => {
        assert.equal(String(err.code), '407002');
        assert.equal(err.message, 'Unable to perform operation using terminated connection.');
        return true;
      });
      assert.equal(conn.isUp(), false);
    } finally {
      await new Promise<void>((resolve) => conn.destroy(() => resolve()));
    }
    await eventually(async () => {
      const leases = await onState<{ state: string; revoke_reason: string }>(t, "SELECT state, revoke_reason FROM leases WHERE subject = 'agent-exp-sf'", []);
      assert.ok(leases.length > 0);
      for (const l of leases) assert.equal(l.state, 'revoked');
      return true;
    }, 10_000, 'the Snowflake lease revoked');
  });

  it('Snowflake protocol: renewals never reach past the token, and after it the door says 390112 then 390114', async () => {
    const base = `http://127.0.0.1:${t.ports['http']}`;
    const post = async (path: string, body: unknown, authorization?: string) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/snowflake', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
      return (await res.json()) as { success: boolean; code: string | null; data: Record<string, any> | null; message: string | null };
    };
    const token = await t.token({ subject: 'agent-exp-raw', groups: ['analysts'], ttlSeconds: 4 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    const login = await post('/session/v1/login-request?databaseName=DEMO', { data: { AUTHENTICATOR: 'OAUTH', TOKEN: token, ACCOUNT_NAME: 'warehouse' } });
    assert.equal(login.success, true, login.message ?? '');
    assert.ok(login.data!['masterValidityInSeconds'] <= 4, `master validity ${login.data!['masterValidityInSeconds']} s outlives the 4 s token`);
    assert.ok(login.data!['validityInSeconds'] <= 4);
    const renewed = await post('/session/token-request', { requestType: 'RENEW', oldSessionToken: login.data!['token'] }, `Snowflake Token="${login.data!['masterToken']}"`);
    assert.equal(renewed.success, true);
    assert.ok(renewed.data!['validityInSecondsMT'] <= 4, 'renewal does not extend the master token');
    await sleep(exp * 1000 + 1000 - Date.now());
    const query = await post('/queries/v1/query-request', { sqlText: 'SELECT 1' }, `Snowflake Token="${renewed.data!['sessionToken']}"`);
    assert.deepEqual([query.success, query.code], [false, '390112']);
    const late = await post('/session/token-request', { requestType: 'RENEW', oldSessionToken: renewed.data!['sessionToken'] }, `Snowflake Token="${renewed.data!['masterToken']}"`);
    assert.deepEqual([late.success, late.code, late.message], [false, '390114', 'Authentication token has expired. The user must authenticate again.']);
  });
  it('Snowflake: every renewal asks identity again; a changed principal or a token that no longer verifies cannot renew, and its session ends', async () => {
    const base = `http://127.0.0.1:${t.ports['http']}`;
    const post = async (path: string, body: unknown, authorization?: string) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/snowflake', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
      return (await res.json()) as { success: boolean; code: string | null; data: Record<string, any> | null; message: string | null };
    };
    const login = async (subject: string) => {
      const token = await t.token({ subject, groups: ['analysts'] });
      const r = await post('/session/v1/login-request?databaseName=DEMO', { data: { AUTHENTICATOR: 'OAUTH', TOKEN: token, ACCOUNT_NAME: 'warehouse' } });
      assert.equal(r.success, true, r.message ?? '');
      const q = await post('/queries/v1/query-request', { sqlText: 'SELECT id FROM customers WHERE id = 1' }, `Snowflake Token="${r.data!['token']}"`);
      assert.equal(q.success, true, q.message ?? '');
      return { token: r.data!['token'] as string, masterToken: r.data!['masterToken'] as string };
    };
    const renew = (l: { token: string; masterToken: string }) => post('/session/token-request', { requestType: 'RENEW', oldSessionToken: l.token }, `Snowflake Token="${l.masterToken}"`);
    const leaseStates = (subject: string) => onState<{ state: string }>(t, 'SELECT state FROM leases WHERE subject = $1', [subject]);
    const grouped = await login('agent-regrouped');
    const distrusted = await login('agent-distrusted');
    // while identity vouches for the same principal, renewal works as before
    const renewed = await renew(grouped);
    assert.equal(renewed.success, true, renewed.message ?? '');
    const regrouped = { token: renewed.data!['sessionToken'] as string, masterToken: renewed.data!['masterToken'] as string };

    // the operator changes where groups come from: the same unexpired token now names a principal without `analysts`
    const swap = async (change: (c: any) => void): Promise<RunningService> => {
      for (const s of t.stack.services.filter((x) => x.name === 'identity')) await s.close();
      const config = structuredClone(t.stack.config) as any;
      change(config);
      const started = await startService('identity', t.env, { config, logger: t.logger });
      t.stack.services.push(started);
      return started;
    };
    await swap((c) => (c.identity.issuers[0].groupsClaim = 'roles'));
    const refused = await renew(regrouped);
    assert.deepEqual([refused.success, refused.code, refused.message], [false, '390114', 'Authentication token has expired. The user must authenticate again.']);
    await eventually(async () => ((await leaseStates('agent-regrouped')).every((l) => l.state === 'revoked') ? true : undefined), 10_000, 'the session lease revoked');
    const after = await post('/queries/v1/query-request', { sqlText: 'SELECT 1' }, `Snowflake Token="${regrouped.token}"`);
    assert.equal(after.success, false, 'the session ended with the refused renewal');

    // the operator stops trusting the issuer: its tokens, still unexpired, renew nothing
    await swap((c) => (c.identity.issuers = c.identity.issuers.slice(1)));
    const untrusted = await renew(distrusted);
    assert.deepEqual([untrusted.success, untrusted.code], [false, '390114']);
    await eventually(async () => ((await leaseStates('agent-distrusted')).every((l) => l.state === 'revoked') ? true : undefined), 10_000, 'the session lease revoked');
    // the stack's own identity again, for whatever runs after
    await swap(() => undefined);
  });
});
