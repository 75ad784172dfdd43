// Attacks on the decision a session reuses and on the masking plan it carries: each case runs the real `pg` client
// through the PostgreSQL front door against the demo data, while a DBA changes the schema on a direct connection
// between two runs of the same statement. The masking plan is by position, so a table whose columns moved while the
// column count stayed the same must not show a masked column in clear under another column's plan.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfigFile } from '@airlock/config';
import { demoCustomers } from '@airlock/cli';
import { startTestStack, type TestStack } from '@airlock/testkit';

async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('review attacks: a schema changed under a kept decision', () => {
  let t: TestStack;
  let admin: pg.Client;

  before(async () => {
    // a person's name is masked too: no content detector recognises it, only the plan's position masks it
    t = await startTestStack({
      configure: (config) => config.masking.rules.push({ name: 'customer-name', table: 'customers', columns: ['name'], action: 'redact' }),
    });
    const adminUrl = (loadConfigFile(t.configPath) as any).connections.demo.adminUrl as string;
    admin = await pgClient(adminUrl);
  });
  after(async () => {
    await admin?.end();
    await t?.close();
  });

  it('refuses every spelling of a setting change or a shadowing temp relation inside a session whose decision is kept', async () => {
    const analyst = await t.token({ subject: 'agent-shadow', groups: ['analysts'] });
    const c = await pgClient(t.pgUrl(analyst));
    try {
      const sql = 'SELECT id, customer_id FROM orders WHERE id = 1';
      assert.deepEqual((await c.query({ text: sql, rowMode: 'array' })).rows, [[1, 31]]);
      const attempts = [
        `SELECT "set_config"('search_path', 'pg_temp, public', false)`,
        `SELECT PG_CATALOG.SET_CONFIG('search_path', 'pg_temp, public', false)`,
        `SELECT id FROM orders WHERE set_config('search_path', 'pg_temp, public', false) IS NOT NULL`,
        `SELECT * FROM orders, LATERAL (SELECT set_config('search_path', 'pg_temp', true)) s`,
        'CREATE TEMP TABLE orders AS SELECT 1 AS id, 31 AS customer_id',
        'CREATE TEMP VIEW orders AS SELECT 1 AS id, 31 AS customer_id',
        "SET LOCAL search_path = pg_temp, public",
        "DO $$ BEGIN PERFORM set_config('search_path', 'pg_temp', false); END $$",
      ];
      for (const attempt of attempts) {
        await assert.rejects(c.query(attempt), /Airlock refused this statement/, attempt);
      }
      // the kept decision still reads the real table, under the settings it was decided with
      assert.deepEqual((await c.query({ text: sql, rowMode: 'array' })).rows, [[1, 31]]);
      assert.deepEqual((await c.query('SHOW search_path')).rows, [{ search_path: '"$user", public' }]);
    } finally {
      await c.end();
    }
  });

  it('redacts every column when the columns moved but their count did not (a column dropped, another added)', async () => {
    const analyst = await t.token({ subject: 'agent-shift', groups: ['analysts'] });
    const c = await pgClient(t.pgUrl(analyst));
    try {
      const sql = 'SELECT * FROM customers LIMIT 5';
      const first = await c.query(sql);
      assert.deepEqual(first.rows.map((r) => r.name), Array(5).fill('[REDACTED]'));
      // same column count, every column one place to the left of where the plan expects it: the name under `id`'s
      await admin.query('ALTER TABLE customers DROP COLUMN id CASCADE, ADD COLUMN id integer');
      const again = await c.query(sql);
      assert.deepEqual(
        again.fields.map((f) => f.name),
        ['name', 'email', 'phone', 'card_number', 'ssn', 'notes', 'id'],
      );
      const shown = JSON.stringify(again.rows);
      for (const secret of demoCustomers().flatMap((d) => [d.name, d.email, d.phone, d.card_number, d.ssn])) {
        assert.ok(!shown.includes(secret), `a masked value came back in clear: ${JSON.stringify(again.rows[0])}`);
      }
    } finally {
      await c.end();
    }
  });
});
