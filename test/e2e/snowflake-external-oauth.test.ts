import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import { demoAccount } from '@airlock/cli';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { Bus, newContext } from '@airlock/runtime';
import { credentialV1 } from '@airlock/contracts';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

const issuer = 'http://airlock.test/oauth';
const audience = 'https://airlock_demo.snowflakecomputing.com';
const users = { ANALYST: 'AIRLOCK_ANALYST_SVC', WRITER: 'AIRLOCK_WRITER_SVC' };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function connect(options: Record<string, unknown>): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection(options as unknown as snowflake.ConnectionOptions);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}
function exec(conn: snowflake.Connection, sqlText: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => conn.execute({ sqlText, complete: (err, _s, rows) => (err ? reject(err) : resolve((rows ?? []) as Array<Record<string, unknown>>)) }));
}
const destroy = (conn: snowflake.Connection) => new Promise<void>((resolve) => conn.destroy(() => resolve()));
async function loginError(options: Record<string, unknown>): Promise<{ code: string }> {
  try {
    const c = await connect(options);
    await destroy(c);
  } catch (err) {
    return err as { code: string };
  }
  throw new Error('login succeeded but should have been refused');
}

describe('Snowflake with the external-oauth strategy, and defence in depth on both engines', () => {
  let t: TestStack;
  let jwksUrl: string;

  before(async () => {
    const port = await freePort();
    jwksUrl = `http://127.0.0.1:${port}/snowflake/warehouse/jwks.json`;
    t = await startTestStack({
      keepWarehouse: true,
      warehouseOAuth: { jwksUrl, issuer, audience, users },
      env: { AIRLOCK_CREDENTIAL_PORT: String(port) },
      configure: (config) => {
        const wh = config['connections']['warehouse'];
        wh['strategy'] = 'external-oauth';
        wh['externalOAuth'] = { issuer, audience, users };
        // a rule that wrongly lets analysts read a table their database roles were never granted
        config['policies'].unshift({ name: 'mistaken-grant', groups: ['analysts'], kinds: ['select'], tables: ['ungranted'], decision: 'allow', role: 'reader' });
      },
    });
    for (const url of [t.demoUrl, t.warehouseUrl!]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query("CREATE TABLE ungranted (id integer, secret text); INSERT INTO ungranted VALUES (1, 's')");
      await c.end();
    }
  });
  after(async () => {
    await t?.close();
  });

  it('runs a masked SELECT through Airlock with an Airlock-signed External-OAuth token', async () => {
    const token = await t.token({ subject: 'agent-oauth', groups: ['analysts'] });
    const conn = await connect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token });
    try {
      const rows = await exec(conn, 'SELECT id, ssn, CURRENT_USER() AS who, CURRENT_ROLE() AS role FROM customers WHERE id = 1');
      assert.deepEqual(rows, [{ ID: 1, SSN: '[REDACTED]', WHO: 'AIRLOCK_ANALYST_SVC', ROLE: 'ANALYST' }]);
    } finally {
      await destroy(conn);
    }
    const revoked = await eventually(async () => {
      const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
      await c.connect();
      const { rows } = await c.query("SELECT payload FROM audit_events WHERE event_type = 'credential.v1.revoked'");
      await c.end();
      return rows.length > 0 ? rows : undefined;
    });
    assert.equal(revoked.length, 1);
  });

  it('serves the JWKS the security integration trusts', async () => {
    const res = await fetch(jwksUrl);
    const body = (await res.json()) as { keys: Array<Record<string, unknown>> };
    assert.equal(res.status, 200);
    assert.equal(body.keys.length, 1);
    assert.equal(body.keys[0]!['kty'], 'RSA');
    assert.equal(body.keys[0]!['d'], undefined, 'no private part');
  });

  it('the warehouse refuses tokens signed by another key, for another audience, or expired', async () => {
    // Airlock's own signing key: the credential service's file in its state folder, not the shared database
    const file = JSON.parse(readFileSync(join(dirname(t.configPath), 'state', 'keys', 'snowflake-oauth.jwk'), 'utf8')) as { privateJwk: JWK };
    const trusted = await importJWK(file.privateJwk, 'RS256');
    const kid = String(file.privateJwk.kid);
    const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await c.connect();
    const { rows: tables } = await c.query("SELECT 1 FROM pg_tables WHERE tablename IN ('credential_oauth_keys', 'identity_dev_keys', 'console_signing_keys')");
    await c.end();
    assert.deepEqual(tables, [], 'no signing key in the shared database');
    const { privateKey: other } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const token = (key: Parameters<SignJWT['sign']>[0], keyId: string, aud: string, exp: number) =>
      new SignJWT({ scp: ['session:role:ANALYST'] })
        .setProtectedHeader({ alg: 'RS256', kid: keyId })
        .setIssuer(issuer)
        .setSubject(users.ANALYST)
        .setAudience(aud)
        .setIssuedAt(now - 600)
        .setExpirationTime(exp)
        .sign(key);
    const direct = (tok: string) => ({ accessUrl: t.warehouse!.url, account: demoAccount, authenticator: 'OAUTH', token: tok });
    // the trusted key with the right claims logs in: the refusals below are about the one thing changed
    const good = await connect(direct(await token(trusted, kid, audience, now + 300)));
    assert.deepEqual(await exec(good, 'SELECT CURRENT_USER() AS who'), [{ WHO: users.ANALYST }]);
    await destroy(good);
    assert.equal((await loginError(direct(await token(other, kid, audience, now + 300)))).code, '390303');
    assert.equal((await loginError(direct(await token(trusted, kid, 'https://other.snowflakecomputing.com', now + 300)))).code, '390303');
    assert.equal((await loginError(direct(await token(trusted, kid, audience, now - 60)))).code, '390318');
  });

  it('a query the scope role may not read fails upstream even when policy allows it (Snowflake)', async () => {
    const token = await t.token({ subject: 'agent-oauth', groups: ['analysts'] });
    const conn = await connect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token });
    try {
      await assert.rejects(exec(conn, 'SELECT id FROM ungranted'), (err: { code: string; sqlState?: string; message: string }) => {
        assert.equal(err.code, '003001');
        assert.match(err.message, /Insufficient privileges/);
        return true;
      });
    } finally {
      await destroy(conn);
    }
  });

  it('a query the scope role may not read fails upstream even when policy allows it (PostgreSQL)', async () => {
    const token = await t.token({ subject: 'agent-pg', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(token) });
    await c.connect();
    try {
      await assert.rejects(c.query('SELECT id FROM ungranted'), (err: { code: string; message: string }) => {
        assert.equal(err.code, '42501');
        assert.equal(err.message, 'permission denied for table ungranted');
        return true;
      });
    } finally {
      await c.end();
    }
  });

  it('revoking an External-OAuth lease ends its Snowflake session at once, and only that session of the shared user', async () => {
    const token = await t.token({ subject: 'agent-revoked', groups: ['analysts'] });
    const conn = await connect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token });
    const state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
    const bus = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'test', logger: t.logger });
    try {
      assert.deepEqual(await exec(conn, 'SELECT id FROM customers WHERE id = 1'), [{ ID: 1 }]);
      const { rows } = await state.query<{ id: string; upstream_sessions: string[] }>(
        "SELECT id, upstream_sessions FROM leases WHERE subject = 'agent-revoked' AND state = 'active'",
      );
      assert.equal(rows.length, 1, 'one session lease');
      const lease = rows[0]!;
      assert.equal(lease.upstream_sessions.length, 1, 'the upstream session is recorded with the lease');
      const sessionId = lease.upstream_sessions[0]!;
      const live = async () => (await t.warehouse!.emulator.activeSessions()).filter((s) => s.user === users.ANALYST).map((s) => s.sessionId);
      assert.ok((await live()).includes(sessionId), 'the lease session is live upstream before revocation');
      // another lease of the same role shares the pre-created user: it must survive this revocation
      const bystanderToken = await t.token({ subject: 'agent-bystander', groups: ['analysts'] });
      const bystander = await connect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token: bystanderToken });
      try {
        assert.deepEqual(await exec(bystander, 'SELECT id FROM customers WHERE id = 2'), [{ ID: 2 }]);
        assert.deepEqual(await bus.call(credentialV1.revokeLease, { leaseId: lease.id, reason: 'operator' }, newContext()), { leaseId: lease.id, state: 'revoked' });
        // at the moment revocation answers, the upstream session is gone (not after a heartbeat, not at token expiry)
        const after = await live();
        assert.equal(after.includes(sessionId), false, 'the revoked lease session is ended upstream');
        assert.equal(after.length, 1, 'the other lease session of the shared user is untouched');
        assert.deepEqual(await exec(bystander, 'SELECT id FROM customers WHERE id = 3'), [{ ID: 3 }]);
      } finally {
        await destroy(bystander);
      }
      const revoked = await eventually(async () => {
        const r = await t.auditRows("event_type = 'credential.v1.revoked' AND payload->>'leaseId' = $1", [lease.id]);
        return r.length > 0 ? r : undefined;
      });
      assert.equal(revoked[0]!.payload.terminatedSessions, 1);
      // the client learns on its next statement: the upstream answers that the session is gone
      await assert.rejects(exec(conn, 'SELECT id FROM customers WHERE id = 1'));
    } finally {
      await destroy(conn);
      await bus.close();
      await state.end();
    }
  });

  it('no token, private key or password reaches a log line or an audit event', async () => {
    const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await c.connect();
    const { rows } = await c.query<{ text: string }>('SELECT string_agg(payload::text, E\'\\n\') AS text FROM audit_events');
    await c.end();
    const audit = rows[0]!.text;
    for (const [where, text] of [['audit', audit], ['logs', t.logs.text()]] as const) {
      assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./, `a JWT in the ${where}`);
      assert.doesNotMatch(text, /PRIVATE KEY/, `a private key in the ${where}`);
      assert.doesNotMatch(text, /SCRAM-SHA-256\$/, `a password verifier in the ${where}`);
    }
  });
});
