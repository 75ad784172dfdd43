import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { connect, connectAdmin, connectError, createFixture, destroy, exec, type Connection, type Fixture } from './helpers.js';

const ISSUER = 'https://airlock.test/issuer';
const AUDIENCE = 'https://airlock_demo.snowflakecomputing.com';

describe('External OAuth login', () => {
  let jwks: Server;
  let jwksUrl = '';
  let signingKey: KeyObject;
  let otherKey: KeyObject;
  let f: Fixture;
  let admin: Connection;

  async function token(claims: JWTPayload, opts: { key?: KeyObject; kid?: string; exp?: number | string } = {}): Promise<string> {
    return new SignJWT({ scp: ['session:role:ANALYST'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(opts.key ?? signingKey);
  }

  before(async () => {
    const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
    signingKey = signing.privateKey;
    otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const jwk = { ...signing.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    f = await createFixture({ externalOAuth: { jwksUrl, issuer: ISSUER, audience: AUDIENCE, userClaim: 'sub' } });
    admin = await connectAdmin(f.emulator.url);
    await exec(admin, 'CREATE TABLE orders (id INT, total NUMBER(10,2))');
    await exec(admin, 'INSERT INTO orders VALUES (1, 9.99)');
    await exec(admin, 'CREATE ROLE analyst');
    await exec(admin, 'GRANT SELECT ON ALL TABLES IN SCHEMA PUBLIC TO ROLE analyst');
    await exec(admin, "CREATE USER agent_alice LOGIN_NAME = 'alice@example.com' DEFAULT_ROLE = ANALYST");
    await exec(admin, 'GRANT ROLE ANALYST TO USER AGENT_ALICE');
    await exec(admin, "CREATE USER agent_bob LOGIN_NAME='bob@example.com'");
  });
  after(async () => {
    await destroy(admin).catch(() => undefined);
    await f.cleanup();
    await new Promise((r) => jwks.close(r));
  });

  it('a good token logs in as the mapped user with the role from scp', async () => {
    const c = await connect(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'ALICE@example.com' }) });
    assert.deepEqual(await exec(c, 'SELECT CURRENT_USER() AS u, CURRENT_ROLE() AS r'), [{ U: 'AGENT_ALICE', R: 'ANALYST' }]);
    assert.deepEqual(await exec(c, 'SELECT id, total FROM orders'), [{ ID: 1, TOTAL: 9.99 }]);
    await destroy(c);
  });

  it('accepts scp as a space-separated string', async () => {
    const c = await connect(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'alice@example.com', scp: 'openid session:role:analyst' }) });
    assert.deepEqual(await exec(c, 'SELECT CURRENT_ROLE() AS r'), [{ R: 'ANALYST' }]);
    await destroy(c);
  });

  it('refuses a token signed by another key with 390303', async () => {
    const err = await connectError(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'alice@example.com' }, { key: otherKey }) });
    assert.equal(err.code, '390303');
    assert.equal(err.message, 'Invalid OAuth access token.');
  });

  it('refuses a token for another audience with 390303', async () => {
    const t = await new SignJWT({ sub: 'alice@example.com', scp: ['session:role:ANALYST'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('https://someone-else.example')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signingKey);
    assert.equal((await connectError(f.emulator.url, { authenticator: 'OAUTH', token: t })).code, '390303');
  });

  it('refuses an expired token with 390318', async () => {
    const err = await connectError(f.emulator.url, {
      authenticator: 'OAUTH',
      token: await token({ sub: 'alice@example.com' }, { exp: Math.floor(Date.now() / 1000) - 60 }),
    });
    assert.equal(err.code, '390318');
    assert.equal(err.message, 'OAuth access token expired.');
  });

  it('refuses a garbage token with 390303 without hanging', async () => {
    const started = Date.now();
    const err = await connectError(f.emulator.url, { authenticator: 'OAUTH', token: 'not-a-jwt' });
    assert.equal(err.code, '390303');
    assert.ok(Date.now() - started < 3000);
  });

  it('refuses an unknown user, an ungranted role and ACCOUNTADMIN', async () => {
    assert.equal((await connectError(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'mallory@example.com' }) })).code, '390303');
    const bob = await connectError(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'bob@example.com' }) });
    assert.equal(bob.code, '390189');
    const adminToken = await token({ sub: 'AIRLOCK_ADMIN', scp: ['session:role:ACCOUNTADMIN'] });
    assert.equal((await connectError(f.emulator.url, { authenticator: 'OAUTH', token: adminToken })).code, '390303');
  });

  it('refuses a disabled user with 390101', async () => {
    await exec(admin, 'ALTER USER agent_alice SET DISABLED = TRUE');
    try {
      const err = await connectError(f.emulator.url, { authenticator: 'OAUTH', token: await token({ sub: 'alice@example.com' }) });
      assert.equal(err.code, '390101');
    } finally {
      await exec(admin, 'ALTER USER agent_alice SET DISABLED = FALSE');
    }
  });
});
