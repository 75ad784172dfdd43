import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ACCOUNT,
  ADMIN_PASSWORD,
  ADMIN_USER,
  connect,
  connectAdmin,
  connectError,
  createFixture,
  destroy,
  exec,
  execError,
  rsaKeyPair,
  type Connection,
  tokensOf,
  type Fixture,
  type SfError,
} from './helpers.js';

describe('login, users and sessions', () => {
  let f: Fixture;
  let admin: Connection;

  before(async () => {
    f = await createFixture();
    admin = await connectAdmin(f.emulator.url);
    await exec(admin, 'CREATE TABLE items (id INT, name STRING)');
    await exec(admin, "INSERT INTO items VALUES (1, 'one')");
    await exec(admin, 'CREATE ROLE AGENT_RO');
    await exec(admin, 'GRANT SELECT ON TABLE items TO ROLE AGENT_RO');
  });
  after(async () => {
    await destroy(admin).catch(() => undefined);
    await f.cleanup();
  });

  it('admin logs in with a password and runs as ACCOUNTADMIN', async () => {
    const rows = await exec(admin, 'SELECT CURRENT_ROLE() AS r, CURRENT_USER() AS u, CURRENT_DATABASE() AS d');
    assert.deepEqual(rows, [{ R: 'ACCOUNTADMIN', U: ADMIN_USER, D: 'DEMO' }]);
  });

  it('refuses a wrong password with 390100', async () => {
    const err = await connectError(f.emulator.url, { username: ADMIN_USER, password: 'nope' });
    assert.equal(err.code, '390100');
    assert.equal(err.message, 'Incorrect username or password was specified.');
  });

  it('refuses password login for a user other than the admin', async () => {
    const err = await connectError(f.emulator.url, { username: 'SOMEONE', password: ADMIN_PASSWORD });
    assert.equal(err.code, '390100');
  });

  it('admin logs in by key pair', async () => {
    const c = await connect(f.emulator.url, { username: ADMIN_USER, authenticator: 'SNOWFLAKE_JWT', privateKey: f.adminKey.privateKeyPem });
    assert.deepEqual(await exec(c, 'SELECT CURRENT_USER() AS u'), [{ U: ADMIN_USER }]);
    await destroy(c);
  });

  it('a service user created by the admin logs in by key pair with its granted default role', async () => {
    const key = rsaKeyPair();
    const created = await exec(
      admin,
      `CREATE USER IF NOT EXISTS agt_one DEFAULT_ROLE = agent_ro TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}' DAYS_TO_EXPIRY = 1 COMMENT = 'grant=g1'`,
    );
    assert.deepEqual(created, [{ status: 'User AGT_ONE successfully created.' }]);
    // DEFAULT_ROLE alone grants nothing, as in Snowflake: the session falls back to PUBLIC.
    let c = await connect(f.emulator.url, { username: 'agt_one', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
    assert.deepEqual(await exec(c, 'SELECT CURRENT_ROLE() AS r'), [{ R: 'PUBLIC' }]);
    await destroy(c);
    assert.deepEqual(await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_ONE'), [{ status: 'Statement executed successfully.' }]);
    c = await connect(f.emulator.url, { username: 'AGT_ONE', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
    assert.deepEqual(await exec(c, 'SELECT CURRENT_ROLE() AS r, CURRENT_USER() AS u'), [{ R: 'AGENT_RO', U: 'AGT_ONE' }]);
    assert.deepEqual(await exec(c, 'SELECT * FROM items'), [{ ID: 1, NAME: 'one' }]);
    await destroy(c);
    const users = await f.emulator.users();
    assert.deepEqual(users.find((u) => u.name === 'AGT_ONE'), { name: 'AGT_ONE', disabled: false, type: 'SERVICE', defaultRole: 'AGENT_RO' });
  });

  it('refuses a key-pair JWT signed by another key with 390144', async () => {
    const other = rsaKeyPair();
    const err = await connectError(f.emulator.url, { username: 'AGT_ONE', authenticator: 'SNOWFLAKE_JWT', privateKey: other.privateKeyPem });
    assert.equal(err.code, '390144');
    assert.equal(err.message, 'JWT token is invalid.');
  });

  it('refuses a role that was not granted (390189) and USE ROLE of an ungranted role', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_two TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}'`);
    const err = await connectError(f.emulator.url, { username: 'AGT_TWO', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem, role: 'AGENT_RO' });
    assert.equal(err.code, '390189');
    const c = await connect(f.emulator.url, { username: 'AGT_TWO', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
    const useErr = await execError(c, 'USE ROLE AGENT_RO');
    assert.equal(useErr.code, '003013');
    assert.equal(useErr.message, "Requested role 'AGENT_RO' is not assigned to the executing user. Specify another role to activate.");
    await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_TWO');
    assert.deepEqual(await exec(c, 'USE ROLE agent_ro'), [{ status: 'Statement executed successfully.' }]);
    assert.deepEqual(await exec(c, 'SELECT CURRENT_ROLE() AS r'), [{ R: 'AGENT_RO' }]);
    // Revoking the role takes effect on the next statement of the live session.
    await exec(admin, 'REVOKE ROLE AGENT_RO FROM USER AGT_TWO');
    assert.equal((await execError(c, 'SELECT * FROM items')).code, '003013');
    await destroy(c);
  });

  it('only ACCOUNTADMIN may manage users and roles', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_three TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}'`);
    const c = await connect(f.emulator.url, { username: 'AGT_THREE', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
    const err = await execError(c, 'CREATE USER evil');
    assert.equal(err.code, '003001');
    assert.equal(err.sqlState, '42501');
    assert.equal(err.message, `SQL access control error:\nInsufficient privileges to operate on account '${ACCOUNT}'`);
    await destroy(c);
  });

  it('SHOW USERS lists users with their properties', async () => {
    const rows = await exec(admin, "SHOW USERS LIKE 'agt_one'");
    assert.equal(rows.length, 1);
    const u = rows[0];
    assert.equal(u.name, 'AGT_ONE');
    assert.equal(u.login_name, 'AGT_ONE');
    assert.equal(u.disabled, 'false');
    assert.equal(u.default_role, 'AGENT_RO');
    assert.equal(u.type, 'SERVICE');
    assert.equal(u.comment, 'grant=g1');
    assert.equal(u.has_rsa_public_key, 'true');
    assert.ok(u.created_on instanceof Date);
    assert.ok(u.expires_at_time instanceof Date);
    const left = (u.expires_at_time as Date).getTime() - Date.now();
    assert.ok(left > 86_300_000 && left <= 86_400_000, `expires in ${left} ms`);
    assert.ok(Number(u.days_to_expiry) > 0.99 && Number(u.days_to_expiry) <= 1);
    const roles = await exec(admin, 'SHOW ROLES');
    assert.deepEqual(roles.map((r) => r.name), ['ACCOUNTADMIN', 'AGENT_RO', 'PUBLIC']);
  });

  it('disabling a user ends its live session and refuses new logins; enabling lets it back in', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_dis TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}' DEFAULT_ROLE=AGENT_RO`);
    await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_DIS');
    const opts = { username: 'AGT_DIS', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem };
    const c = await connect(f.emulator.url, opts);
    assert.deepEqual(await exec(c, 'SELECT COUNT(*) AS n FROM items'), [{ N: 1 }]);
    assert.ok((await f.emulator.activeSessions()).some((s) => s.user === 'AGT_DIS' && s.role === 'AGENT_RO'));
    await exec(admin, 'ALTER USER agt_dis SET DISABLED = TRUE');
    assert.ok(!(await f.emulator.activeSessions()).some((s) => s.user === 'AGT_DIS'));
    // The server answers 390111 (session gone); the driver then reports its connection as disconnected.
    const err = await execError(c, 'SELECT 1');
    assert.equal(err.code, 407002);
    assert.equal(c.isUp(), false);
    const loginErr = await connectError(f.emulator.url, opts);
    assert.equal(loginErr.code, '390101');
    assert.equal(loginErr.message, 'User access disabled. Contact your local system administrator.');
    assert.deepEqual((await f.emulator.users()).find((u) => u.name === 'AGT_DIS')?.disabled, true);
    await exec(admin, "ALTER USER agt_dis SET DISABLED = 'false'");
    const again = await connect(f.emulator.url, opts);
    assert.deepEqual(await exec(again, 'SELECT 1 AS one'), [{ ONE: 1 }]);
    await destroy(again);
  });

  it('SYSTEM$ABORT_SESSION ends one session (its own user or ACCOUNTADMIN), SYSTEM$CANCEL_ALL_QUERIES its queries', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_abort TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}' DEFAULT_ROLE=AGENT_RO`);
    await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_ABORT');
    const opts = { username: 'AGT_ABORT', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem };
    const [a, b] = [await connect(f.emulator.url, opts), await connect(f.emulator.url, opts)];
    const other = rsaKeyPair();
    await exec(admin, `CREATE USER agt_other TYPE=SERVICE RSA_PUBLIC_KEY='${other.publicKeyBody}' DEFAULT_ROLE=AGENT_RO`);
    await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_OTHER');
    const stranger = await connect(f.emulator.url, { username: 'AGT_OTHER', authenticator: 'SNOWFLAKE_JWT', privateKey: other.privateKeyPem });
    const ids = (await f.emulator.activeSessions()).filter((s) => s.user === 'AGT_ABORT').map((s) => s.sessionId);
    assert.equal(ids.length, 2);
    const [idA] = ids;
    const refused = await execError(stranger, `SELECT SYSTEM$ABORT_SESSION(${idA})`);
    assert.equal(refused.code, '003001', "another user may not end someone else's session");
    assert.deepEqual(await exec(admin, `SELECT SYSTEM$CANCEL_ALL_QUERIES(${idA})`), [{ [`SYSTEM$CANCEL_ALL_QUERIES(${idA})`]: '0 queries terminated.' }]);
    assert.deepEqual(await exec(admin, `SELECT SYSTEM$ABORT_SESSION(${idA})`), [{ [`SYSTEM$ABORT_SESSION(${idA})`]: `session [${idA}] terminated.` }]);
    const live = (await f.emulator.activeSessions()).filter((s) => s.user === 'AGT_ABORT').map((s) => s.sessionId);
    assert.deepEqual(live, ids.filter((id) => id !== idA), 'only that session ended; the same user\'s other one lives');
    const outcomes = await Promise.all([a, b].map((c) => exec(c, 'SELECT 1 AS one').then(() => 'ok', (err: SfError) => String(err.code))));
    assert.deepEqual([...outcomes].sort(), ['407002', 'ok'], 'the ended session answers 390111 (the driver: disconnected), the other runs');
    const survivor = outcomes[0] === 'ok' ? a : b;
    // ending it again answers the same
    assert.deepEqual(await exec(admin, `SELECT SYSTEM$ABORT_SESSION(${idA})`), [{ [`SYSTEM$ABORT_SESSION(${idA})`]: `session [${idA}] terminated.` }]);
    await destroy(survivor);
    await destroy(stranger);
  });

  it('the session-gone answer is 390111 on the wire', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_wire TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}'`);
    const c = await connect(f.emulator.url, { username: 'AGT_WIRE', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
    const token = tokensOf(c).sessionToken;
    await exec(admin, 'DROP USER agt_wire');
    const res = await fetch(`${f.emulator.url}/queries/v1/query-request`, {
      method: 'POST',
      headers: { authorization: `Snowflake Token="${token}"`, 'content-type': 'application/json' },
      body: JSON.stringify({ sqlText: 'select 1' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { success: boolean; code: string };
    assert.equal(body.success, false);
    assert.equal(body.code, '390111');
  });

  it('DROP USER ends sessions and refuses new logins', async () => {
    const key = rsaKeyPair();
    await exec(admin, `CREATE USER agt_drop TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}'`);
    const opts = { username: 'AGT_DROP', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem };
    const c = await connect(f.emulator.url, opts);
    assert.deepEqual(await exec(admin, 'DROP USER agt_drop'), [{ status: 'AGT_DROP successfully dropped.' }]);
    assert.equal((await execError(c, 'SELECT 1')).code, 407002);
    assert.equal((await connectError(f.emulator.url, opts)).code, '390144');
    assert.deepEqual(await exec(admin, 'DROP USER IF EXISTS agt_drop'), [{ status: 'Drop statement executed successfully (AGT_DROP already dropped).' }]);
    const err = await execError(admin, 'DROP USER agt_drop');
    assert.equal(err.code, '002003');
    assert.equal(err.message, "SQL compilation error:\nUser 'AGT_DROP' does not exist or not authorized.");
  });

  it('a user past DAYS_TO_EXPIRY cannot log in', async () => {
    const key = rsaKeyPair();
    // 0.00002 days = 1.7 s: fractional days keep the test fast.
    await exec(admin, `CREATE USER agt_exp TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}' DAYS_TO_EXPIRY=0.00002`);
    const opts = { username: 'AGT_EXP', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem };
    await destroy(await connect(f.emulator.url, opts));
    await new Promise((r) => setTimeout(r, 2000));
    const err = await connectError(f.emulator.url, opts);
    assert.equal(err.code, '390101');
    assert.equal(err.message, 'User access expired. Contact your local system administrator.');
  });

  it('session close ends the session; heartbeat reports validity', async () => {
    const c = await connectAdmin(f.emulator.url);
    const before = await f.emulator.activeSessions();
    assert.equal(await c.isValidAsync(), true);
    await destroy(c);
    const afterClose = await f.emulator.activeSessions();
    assert.equal(afterClose.length, before.length - 1);
    assert.equal(await c.isValidAsync(), false);
  });

  it('users, grants and keys survive an emulator restart', async () => {
    const { startEmulator } = await import('../src/index.js');
    const second = await startEmulator({ databaseUrl: f.databaseUrl, account: ACCOUNT, adminUser: ADMIN_USER, adminPassword: ADMIN_PASSWORD });
    try {
      const key = rsaKeyPair();
      await exec(admin, `CREATE USER agt_restart TYPE=SERVICE RSA_PUBLIC_KEY='${key.publicKeyBody}' DEFAULT_ROLE=AGENT_RO`);
      await exec(admin, 'GRANT ROLE AGENT_RO TO USER AGT_RESTART');
      const c = await connect(second.url, { username: 'AGT_RESTART', authenticator: 'SNOWFLAKE_JWT', privateKey: key.privateKeyPem });
      assert.deepEqual(await exec(c, 'SELECT name FROM items'), [{ NAME: 'one' }]);
      await destroy(c);
    } finally {
      await second.close();
    }
  });
});

describe('token renewal', () => {
  let f: Fixture;
  before(async () => {
    f = await createFixture({ sessionValiditySeconds: 1 });
  });
  after(async () => {
    await f.cleanup();
  });

  it('renews an expired session token with the master token and replays the statement', async () => {
    const c = await connectAdmin(f.emulator.url);
    const tokens = tokensOf(c);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await exec(c, 'SELECT 42 AS answer'), [{ ANSWER: 42 }]);
    const renewed = tokensOf(c);
    assert.notEqual(renewed.sessionToken, tokens.sessionToken);
    assert.equal(renewed.masterToken, tokens.masterToken);
    // The old session token is dead now.
    const res = await fetch(`${f.emulator.url}/session/heartbeat`, { method: 'POST', headers: { authorization: `Snowflake Token="${tokens.sessionToken}"` } });
    assert.equal(((await res.json()) as { code: string }).code, '390104');
    await destroy(c);
  });

  it('refuses renewal with an unknown master token (390114)', async () => {
    const res = await fetch(`${f.emulator.url}/session/token-request`, {
      method: 'POST',
      headers: { authorization: 'Snowflake Token="bogus"', 'content-type': 'application/json' },
      body: JSON.stringify({ requestType: 'RENEW', oldSessionToken: 'x' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { success: boolean; code: string };
    assert.deepEqual([body.success, body.code], [false, '390114']);
  });
});
