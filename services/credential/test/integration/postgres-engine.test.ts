import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { seedDemoDatabase } from '@airlock/demo';
import { backendsWithPrefix, databaseUrl, freshDatabase, rolesWithPrefix, startPostgresCluster, uniqueSuffix } from '@airlock/testkit';
import { PostgresEngine } from '../../src/engines/postgres.js';

async function login(url: string, username: string, password: string): Promise<pg.Client> {
  const u = new URL(url);
  u.username = username;
  u.password = password;
  const c = new pg.Client({ connectionString: u.toString() });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

describe('PostgreSQL credential engine: backstops and revocation that ends access now', () => {
  const prefix = `airlock_e${uniqueSuffix()}_`;
  let demo: Awaited<ReturnType<typeof freshDatabase>>;
  let other: Awaited<ReturnType<typeof freshDatabase>>;
  let engine: PostgresEngine;

  before(async () => {
    demo = await freshDatabase('airlock_engine');
    other = await freshDatabase('airlock_engine_other');
    await seedDemoDatabase(demo.url);
    // the test server speaks clear text: said explicitly, as a real configuration would have to
    engine = new PostgresEngine(demo.url, undefined, 'disable');
  });
  after(async () => {
    await engine?.close();
    await other?.drop();
    await demo?.drop();
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
    await admin.connect();
    for (const r of await rolesWithPrefix(prefix)) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(r)}`).catch(() => undefined);
    await admin.end();
  });

  it('sets VALID UNTIL, a connection limit and the scope role on every credential', async () => {
    const username = `${prefix}backstop`;
    const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 600_000);
    const grant = await engine.mint({ username, role: 'demo_reader', expiresAt });
    assert.equal(grant.type, 'postgres');
    const admin = new pg.Client({ connectionString: demo.url });
    await admin.connect();
    const { rows } = await admin.query(
      `SELECT r.rolvaliduntil, r.rolconnlimit, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
              array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid) AS member_of
         FROM pg_roles r WHERE r.rolname = $1`,
      [username],
    );
    await admin.end();
    assert.deepEqual(rows, [
      { rolvaliduntil: expiresAt, rolconnlimit: 8, rolcanlogin: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false, member_of: ['demo_reader'] },
    ]);
    assert.deepEqual(await engine.revoke(username), { terminatedSessions: 0 });
    assert.deepEqual(await rolesWithPrefix(username), []);
  });

  it('ends live sessions in every database, handles owned objects here and in another database, and drops the role', async () => {
    const username = `${prefix}owner`;
    const grant = await engine.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    assert.equal(grant.type, 'postgres');
    const password = grant.type === 'postgres' ? grant.password : '';
    const admin = new pg.Client({ connectionString: demo.url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA scratch; GRANT USAGE, CREATE ON SCHEMA scratch TO ${pg.escapeIdentifier(username)}`);
    const otherAdmin = new pg.Client({ connectionString: other.url });
    await otherAdmin.connect();
    await otherAdmin.query(`GRANT CREATE ON SCHEMA public TO ${pg.escapeIdentifier(username)}`);

    // the lease creates a temp table and a table here, a table in another database, and keeps a query running
    const here = await login(demo.url, username, password);
    await here.query('CREATE TEMP TABLE t_scratch (x int)');
    await here.query('CREATE TABLE scratch.kept (x int)');
    const there = await login(other.url, username, password);
    await there.query('CREATE TABLE made_elsewhere (x int)');
    await admin.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    const running = here.query('SELECT count(*) FROM orders').then(
      () => 'completed',
      (err: { code: string }) => err.code,
    );
    for (let i = 0; i < 100; i++) {
      const { rows } = await otherAdmin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", [username]);
      if (rows[0].n === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }

    const started = performance.now();
    const result = await engine.revoke(username);
    const ms = performance.now() - started;
    await admin.query('ROLLBACK');
    console.log(`[faults] engine revoke with 2 live sessions and objects in 2 databases: ${Math.round(ms)} ms`);
    assert.deepEqual(result, { terminatedSessions: 2 });
    assert.equal(await running, '57P01');
    assert.deepEqual(await rolesWithPrefix(username), []);
    assert.equal(await backendsWithPrefix(username), 0);
    // what the lease created is kept, owned by the powerless leftover role (never the admin), in both databases; the
    // temp table went with its session
    const owner = async (c: pg.Client, table: string) =>
      (await c.query<{ o: string }>('SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE relname = $1', [table])).rows.map((r) => r.o);
    assert.deepEqual(await owner(admin, 'kept'), ['airlock_leftovers']);
    assert.deepEqual(await owner(otherAdmin, 'made_elsewhere'), ['airlock_leftovers']);
    assert.deepEqual(await owner(admin, 't_scratch'), []);
    await admin.end();
    await otherAdmin.end();
    await here.end().catch(() => undefined);
    await there.end().catch(() => undefined);
  });

  it('drops what the lease created when the connection says leftovers: drop', async () => {
    const dropping = new PostgresEngine(demo.url, { leftovers: 'drop', leftoverRole: 'airlock_leftovers' }, 'disable');
    const username = `${prefix}dropper`;
    const grant = await dropping.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    const admin = new pg.Client({ connectionString: demo.url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS dropped; GRANT USAGE, CREATE ON SCHEMA dropped TO ${pg.escapeIdentifier(username)}`);
      const leased = await login(demo.url, username, grant.type === 'postgres' ? grant.password : '');
      await leased.query(`CREATE FUNCTION dropped.definer() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT current_user::text'`);
      await leased.end();
      assert.deepEqual(await dropping.revoke(username), { terminatedSessions: 0 });
      const { rows } = await admin.query(`SELECT proname FROM pg_proc WHERE proname = 'definer' AND pronamespace = 'dropped'::regnamespace`);
      assert.deepEqual(rows, []);
    } finally {
      await admin.end();
      await dropping.close();
    }
  });

  it('is idempotent: revoking a revoked, a missing, or the same credential twice at once succeeds', async () => {
    const username = `${prefix}twice`;
    await engine.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    const both = await Promise.all([engine.revoke(username), engine.revoke(username)]);
    assert.deepEqual(both, [{ terminatedSessions: 0 }, { terminatedSessions: 0 }]);
    assert.deepEqual(await engine.revoke(username), { terminatedSessions: 0 });
    assert.deepEqual(await engine.revoke(`${prefix}never_existed`), { terminatedSessions: 0 });
    assert.deepEqual(await rolesWithPrefix(username), []);
  });

  it('refuses the login of a revoked credential', async () => {
    const username = `${prefix}refused`;
    const grant = await engine.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    const password = grant.type === 'postgres' ? grant.password : '';
    const c = await login(demo.url, username, password);
    await c.end();
    await engine.revoke(username);
    // 28P01 where passwords are checked, 28000 where the server trusts local logins: either way the role is gone
    await assert.rejects(login(demo.url, username, password), (err: { code: string }) => err.code === '28P01' || err.code === '28000');
  });
  it('revokes a lease with a live session and objects in its own database: sessions ended, objects handed over, role gone', async () => {
    const username = `${prefix}local`;
    const grant = await engine.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    const admin = new pg.Client({ connectionString: demo.url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS local_scratch; GRANT USAGE, CREATE ON SCHEMA local_scratch TO ${pg.escapeIdentifier(username)}`);
      const leased = await login(demo.url, username, grant.type === 'postgres' ? grant.password : '');
      await leased.query('CREATE TABLE local_scratch.kept_here (x int)');
      await leased.query('CREATE TEMP TABLE t_local (x int)');
      const second = await login(demo.url, username, grant.type === 'postgres' ? grant.password : '');
      const ended = second.query('SELECT pg_sleep(30)').then(
        () => 'completed',
        (err: { code: string }) => err.code,
      );
      assert.deepEqual(await engine.revoke(username), { terminatedSessions: 2 });
      assert.equal(await ended, '57P01');
      assert.deepEqual(await rolesWithPrefix(username), []);
      assert.equal(await backendsWithPrefix(username), 0);
      const { rows } = await admin.query<{ relname: string; o: string }>(
        "SELECT relname, pg_get_userbyid(relowner) AS o FROM pg_class WHERE relname IN ('kept_here', 't_local') ORDER BY relname",
      );
      assert.deepEqual(rows, [{ relname: 'kept_here', o: 'airlock_leftovers' }]);
      await leased.end().catch(() => undefined);
      await second.end().catch(() => undefined);
    } finally {
      await admin.end();
    }
  });

  it('refuses to hand leftovers to a role that can log in, and the lease role can no longer log in either', async () => {
    const unsafe = `${prefix}unsafe_leftover`;
    const admin = new pg.Client({ connectionString: demo.url });
    await admin.connect();
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(unsafe)} LOGIN`);
    const careless = new PostgresEngine(demo.url, { leftovers: 'reassign', leftoverRole: unsafe }, 'disable');
    const username = `${prefix}careless`;
    try {
      await careless.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
      await assert.rejects(careless.revoke(username), {
        message: `the leftover role "${unsafe}" can log in, is a superuser or has members; give leases.leftoverRole a role without any`,
      });
      const { rows } = await admin.query('SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = $1', [username]);
      assert.deepEqual(rows, [{ rolcanlogin: false, rolconnlimit: 0 }]);
      // the pooled connection that saw the error still works
      assert.deepEqual(await engine.revoke(username), { terminatedSessions: 0 });
      assert.deepEqual(await careless.listWithPrefix(username), []);
    } finally {
      await careless.close();
      await admin.end();
    }
  });
});

describe('PostgreSQL credential engine: lease passwords against a server that checks them', () => {
  let cluster: Awaited<ReturnType<typeof startPostgresCluster>>;
  let engine: PostgresEngine;
  const username = `airlock_scram_${uniqueSuffix()}`;

  before(async () => {
    cluster = await startPostgresCluster();
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    // the superuser keeps trust; every other login over TCP must prove its password with SCRAM-SHA-256
    const { rows } = await admin.query<{ hba_file: string }>('SHOW hba_file');
    await admin.query(
      `COPY (VALUES ('local all all trust'), ('host all postgres 127.0.0.1/32 trust'), ('host all all 127.0.0.1/32 scram-sha-256')) TO ${pg.escapeLiteral(rows[0]!.hba_file)}`,
    );
    await admin.query('SELECT pg_reload_conf()');
    await admin.query('CREATE ROLE demo_reader NOLOGIN');
    await admin.end();
    engine = new PostgresEngine(cluster.url, undefined, 'disable');
  });
  after(async () => {
    await engine?.close();
    await cluster?.destroy();
  });

  it('stores a one-iteration SCRAM-SHA-256 verifier, never the password, and the pg client logs in with it', async () => {
    const grant = await engine.mint({ username, role: 'demo_reader', expiresAt: new Date(Date.now() + 600_000) });
    const password = grant.type === 'postgres' ? grant.password : '';
    // 24 random bytes
    assert.match(password, /^[A-Za-z0-9_-]{32}$/);
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    const { rows } = await admin.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [username]);
    assert.match(rows[0]!.rolpassword, /^SCRAM-SHA-256\$1:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.equal(rows[0]!.rolpassword.includes(password), false);

    const leased = await login(cluster.url, username, password);
    assert.deepEqual((await leased.query('SELECT current_user AS u')).rows, [{ u: username }]);
    await assert.rejects(login(cluster.url, username, `${password}x`), (err: { code: string }) => err.code === '28P01');

    assert.deepEqual(await engine.revoke(username), { terminatedSessions: 1 });
    await leased.end().catch(() => undefined);
    await assert.rejects(login(cluster.url, username, password), (err: { code: string }) => err.code === '28P01');
    assert.deepEqual((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).rows, []);
    await admin.end();
  });
});
