// deploy/compose/demo.sql (the compose PostgreSQL init script's data) builds the same demo database as
// seedDemoDatabase(), and is what scripts/demo-sql.ts generates today.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { seedDemoDatabase } from '../../packages/demo/src/seed.ts';
import { randomBytes } from 'node:crypto';
import { composeConfigPath, demoSqlPath, renderComposeConfig, renderDemoSql } from '../../scripts/demo-sql.ts';
import { parse } from 'yaml';
import { parseConfig } from '@airlock/config';
import { withoutDemoSignIn } from '@airlock/testkit';

const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const u = new URL(serverUrl);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database on the DATABASE_URL server; `drop()` removes it. */
async function freshDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined) };
}

async function snapshot(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query({ text: sql, rowMode: 'array' })).rows;
    return {
      columns: await q(`SELECT table_name, column_name, data_type, numeric_precision, numeric_scale, is_nullable
                          FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`),
      constraints: await q(`SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid)
                              FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2, 3`),
      grants: await q(`SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
                         WHERE table_schema = 'public' AND grantee IN ('demo_reader', 'demo_writer', 'PUBLIC') ORDER BY 1, 2, 3`),
      publicCreate: await q(`SELECT has_schema_privilege('public', 'public', 'CREATE')`),
      customers: await q('SELECT * FROM customers ORDER BY id'),
      orders: await q('SELECT id, customer_id, total::text, created_at FROM orders ORDER BY id'),
    };
  } finally {
    await c.end();
  }
}

describe('deploy/compose/demo.sql', () => {
  const dbs: Array<{ drop(): Promise<void> }> = [];
  after(async () => {
    for (const d of dbs) await d.drop();
  });

  it('is what scripts/demo-sql.ts generates', () => {
    assert.equal(readFileSync(demoSqlPath, 'utf8'), renderDemoSql());
  });

  it('deploy/compose/airlock.yaml is the demo config with proxy.tls and http.tls (no clear-text opt-out) and without the demo sign-in', () => {
    const text = readFileSync(composeConfigPath, 'utf8');
    assert.equal(text, renderComposeConfig());
    parseConfig(text, composeConfigPath);
    const compose = parse(text) as Record<string, any>;
    const demo = parse(readFileSync(new URL('../../deploy/config/demo.yaml', import.meta.url), 'utf8')) as Record<string, any>;
    // the console's demo sign-in runs only under `airlock up`: compose has neither the console section nor its issuer
    assert.equal(compose['console'], undefined);
    assert.deepEqual(compose['identity']['issuers'].map((i: { issuer: string }) => i.issuer), ['http://127.0.0.1:8083/dev']);
    assert.equal(demo['console']['oidc']['issuer'], 'http://127.0.0.1:8086');
    withoutDemoSignIn(demo);
    const tls = { certPath: '/etc/airlock/tls/tls.crt', keyPath: '/etc/airlock/tls/tls.key' };
    assert.deepEqual(compose['proxy']['tls'], tls);
    assert.equal(compose['proxy']['allowInsecureNonLoopback'], undefined);
    assert.equal(demo['proxy']['allowInsecureNonLoopback'], false);
    assert.deepEqual(compose['http']['tls'], tls);
    assert.equal(compose['http']['allowInsecureNonLoopback'], undefined);
    assert.equal(demo['http']['allowInsecureNonLoopback'], false);
    delete compose['proxy']['tls'];
    delete compose['http']['tls'];
    compose['proxy']['allowInsecureNonLoopback'] = false;
    compose['http']['allowInsecureNonLoopback'] = false;
    assert.deepEqual(compose, demo);
  });

  it('builds the same tables, constraints, grants and rows as seedDemoDatabase()', async () => {
    const seeded = await freshDatabase('airlock_seeded');
    dbs.push(seeded);
    await seedDemoDatabase(seeded.url);
    const fromSql = await freshDatabase('airlock_demosql');
    dbs.push(fromSql);
    const c = new pg.Client({ connectionString: fromSql.url });
    await c.connect();
    try {
      await c.query(readFileSync(demoSqlPath, 'utf8'));
      // idempotent, as the seed is
      await c.query(readFileSync(demoSqlPath, 'utf8'));
    } finally {
      await c.end();
    }
    const a = await snapshot(seeded.url);
    const b = await snapshot(fromSql.url);
    assert.equal(b.customers.length, 50);
    assert.equal(b.orders.length, 200);
    assert.deepEqual(b.publicCreate, [[false]]);
    assert.deepEqual(b, a);
  });
});
