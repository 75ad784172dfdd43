import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { serviceNames, startService, type RunningService } from '@airlock/cli';
import { ensureDatabase } from '@airlock/runtime';
import { databaseUrl, eventually, startTestStack, uniqueSuffix, type TestStack } from '@airlock/testkit';
import { grantStores, migrateAll, rolesSql, storeGrants } from '../../packages/cli/src/commands/migrate.js';

/**
 * Every service on its own database role, with only the grants its store needs; the schema applied by an owner role
 * that no running service uses. The stack runs a statement, an approval and the audit log that way, and each role
 * can do exactly what its store needs and nothing else.
 */

const roleUrl = (role: string, db: string) => `postgres://${role}@127.0.0.1:5432/${db}`;

async function as<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function sqlState(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'succeeded';
}

describe('each service on its own database role', () => {
  let t: TestStack;
  const prefix = `airlock_r${uniqueSuffix()}`;
  const role = (s: string) => `${prefix}_${s}`;
  const running: RunningService[] = [];
  let ports: Record<string, number> = {};

  before(async () => {
    // the test stack's databases, config and tokens, with no service: they start below, each as its own role
    t = await startTestStack({ names: [], configure: (c) => (c['approval'] = { ...(c['approval'] ?? {}), holdSeconds: 0 }) });
    await ensureDatabase(databaseUrl(t.stateDb));
    await as(databaseUrl(t.stateDb), async (c) => {
      for (const statement of rolesSql(prefix, t.stateDb, serviceNames).split(';\n')) await c.query(statement);
    });
    const owner = new pg.Pool({ connectionString: roleUrl(role('owner'), t.stateDb), max: 1 });
    try {
      await migrateAll(owner);
      await grantStores(owner, prefix, serviceNames);
    } finally {
      await owner.end();
    }
    for (const name of serviceNames) {
      running.push(await startService(name, { ...t.env, DATABASE_URL: roleUrl(role(name), t.stateDb) }, { config: t.stack.config, logger: t.logger }));
    }
    ports = Object.assign({}, ...running.map((s) => s.ports)) as Record<string, number>;
  });
  after(async () => {
    for (const s of running.reverse()) await s.close();
    await t?.close();
    await as(databaseUrl('postgres'), async (c) => {
      for (const s of ['owner', ...serviceNames]) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role(s))}`);
    });
  });

  it('runs a statement, an approval and the audit log with each service on its role', async () => {
    const analyst = await t.token({ subject: 'agent-roles', groups: ['analysts'] });
    const dba = await t.token({ subject: 'dba-roles', groups: ['dba'], audience: 'http://127.0.0.1:8081' });
    const c = new pg.Client({ connectionString: `postgresql://agent:${encodeURIComponent(analyst)}@127.0.0.1:${ports['pgwire']}/demo?sslmode=disable` });
    await c.connect();
    try {
      assert.deepEqual((await c.query('SELECT id FROM orders WHERE id = 2')).rows, [{ id: 2 }]);
      const held = await c.query('DELETE FROM orders WHERE id = 2').then(
        () => undefined,
        (err: Error & { code: string }) => err,
      );
      assert.equal(held?.code, '57014');
      const approvalId = /request ([0-9a-f-]{36})/.exec(held!.message)![1]!;
      const res = await fetch(`http://127.0.0.1:${ports['approval']}/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'roles test' }),
      });
      assert.equal(res.status, 200);
      assert.equal((await c.query('DELETE FROM orders WHERE id = 2')).rowCount, 1);
    } finally {
      await c.end();
    }
    const types = await eventually(async () => {
      const { rows } = await as(databaseUrl(t.stateDb), (a) => a.query<{ event_type: string }>('SELECT DISTINCT event_type FROM audit_events'));
      const set = new Set(rows.map((r) => r.event_type));
      return set.has('approval.v1.grant-used') && set.has('credential.v1.issued') && set.has('proxy.v1.query-completed') ? set : undefined;
    }, 15_000, 'the audit log recorded the statements');
    assert.ok(types.has('policy.v1.decided'));
    // and no service ran into a privilege it lacks along the way
    assert.deepEqual(t.logs.lines.filter((l) => /permission denied|42501/.test(l)), []);
  });

  it('grants each role exactly its store, no DDL, and no role but the owner owns anything', async () => {
    const state = databaseUrl(t.stateDb);
    for (const s of serviceNames) {
      const { rows } = await as(state, (c) =>
        c.query<{ table_name: string; privilege_type: string }>(
          'SELECT table_name, privilege_type FROM information_schema.role_table_grants WHERE grantee = $1 ORDER BY 1, 2',
          [role(s)],
        ),
      );
      const expected = [
        ['airlock_migrations', 'SELECT'],
        ...storeGrants[s].flatMap((g) => g.privileges.split(', ').map((p) => [g.table, p])),
      ].sort((a, b) => (a.join() < b.join() ? -1 : 1));
      assert.deepEqual(rows.map((r) => [r.table_name, r.privilege_type]), expected, s);
    }
    const { rows: owned } = await as(state, (c) =>
      c.query('SELECT relname FROM pg_class WHERE pg_get_userbyid(relowner) = ANY($1::text[])', [serviceNames.map(role)]),
    );
    assert.deepEqual(owned, []);
  });

  it('ships the same roles for the default prefix in deploy/postgres/roles.sql', () => {
    const shipped = readFileSync(new URL('../../deploy/postgres/roles.sql', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n');
    assert.equal(shipped, `${rolesSql('airlock', 'airlock', serviceNames)};\n`);
  });

  it('refuses what a store does not need: another store, DDL, rewriting the audit log', async () => {
    const state = (s: string) => roleUrl(role(s), t.stateDb);
    assert.equal(await as(state('proxy'), (c) => sqlState(c.query('SELECT * FROM leases'))), '42501');
    assert.equal(await as(state('approval'), (c) => sqlState(c.query('SELECT * FROM leases'))), '42501');
    assert.equal(await as(state('credential'), (c) => sqlState(c.query('SELECT * FROM approval_requests'))), '42501');
    assert.equal(await as(state('console'), (c) => sqlState(c.query("UPDATE leases SET state = 'revoked'"))), '42501');
    assert.equal(await as(state('policy'), (c) => sqlState(c.query('CREATE TABLE planted (x int)'))), '42501');
    assert.equal(await as(state('credential'), (c) => sqlState(c.query('ALTER TABLE leases ADD COLUMN planted int'))), '42501');
    assert.equal(await as(state('audit'), (c) => sqlState(c.query("UPDATE audit_events SET subject = 'x'"))), '42501');
    assert.equal(await as(state('audit'), (c) => sqlState(c.query('ALTER TABLE audit_events DISABLE TRIGGER USER'))), '42501');
    assert.equal(await as(state('identity'), (c) => sqlState(c.query('DELETE FROM audit_events'))), '42501');
  });
});
