// Real PostgreSQL clients, unchanged, through the PostgreSQL front door against the demo: psql, node-postgres (simple
// and extended protocol, pg-cursor), JDBC 42.x on a headless JRE and SQLAlchemy 1.4 with psycopg2. Each connects,
// discovers the schema the way it does by itself (psql's \d family, DatabaseMetaData, SQLAlchemy's inspector), runs a
// parameterised query, reads masked columns (checked cell by cell against the clear upstream value) and has a write
// refused; and each is refused the catalog relations that carry data (statistics, other sessions' statement text,
// large objects, credentials). JDBC and SQLAlchemy come from Debian (see README, "Prerequisites").
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { DemoCustomer } from '@airlock/cli';
import { startTestStack, type TestStack } from '@airlock/testkit';

const run = promisify(execFile);
/**
 * JDBC and SQLAlchemy come from Debian's packages, which `.ci/run` installs: under CI a missing one fails its test; on
 * a developer's machine without them the test is skipped with the line that says what to install.
 */
function requireClient(ctx: { skip(message: string): void }, present: boolean, install: string): boolean {
  if (present) return true;
  const message = `not installed: ${install}`;
  assert.ok(process.env['CI'] !== 'true', message);
  ctx.skip(message);
  return false;
}
const pythonHas = (modules: string) => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${modules}`]).status === 0;
const JDBC_JAR = process.env['AIRLOCK_JDBC_JAR'] ?? '/usr/share/java/postgresql.jar';
const PYTHON = process.env['AIRLOCK_PYTHON'] ?? '/usr/bin/python3';
const jdbcProbe = fileURLToPath(new URL('./jdbc/Probe.java', import.meta.url));
const sqlalchemyProbe = fileURLToPath(new URL('./sqlalchemy/probe.py', import.meta.url));
const serverPostgres = fileURLToPath(import.meta.resolve('@modelcontextprotocol/server-postgres/dist/index.js'));
const dbhub = fileURLToPath(import.meta.resolve('@bytebase/dbhub/dist/index.js'));

/** A third-party MCP server over stdio, run unchanged from node_modules. */
async function mcpServer(args: string[]): Promise<Client> {
  const transport = new StdioClientTransport({ command: process.execPath, args, stderr: 'pipe' });
  const client = new Client({ name: 'airlock-clients', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** Relations that carry data, closed whatever the rules say, for every client. */
const CLOSED = [
  'pg_stats',
  'pg_catalog.pg_statistic',
  'pg_stats_ext',
  'pg_statistic_ext_data',
  'pg_stat_activity',
  'pg_stat_statements',
  'pg_largeobject',
  'pg_authid',
  'pg_shadow',
  'pg_user_mappings',
  'information_schema.user_mapping_options',
  'pg_file_settings',
  'pg_hba_file_rules',
  'pg_db_role_setting',
];

/** The clear columns a masked read is checked against. */
type Clear = Omit<DemoCustomer, 'notes'>;

/** What an analyst sees of a clear row, as the demo's masking rules make it. */
function masked(c: Clear): string[] {
  const partial = (v: string, keep: number) => v.slice(0, -keep).replace(/[0-9A-Za-z]/g, '*') + v.slice(-keep);
  return [String(c.id), c.name, `***@${c.email.split('@')[1]}`, partial(c.phone, 4), partial(c.card_number, 4), '[REDACTED]'];
}

function lines(stdout: string): Array<Record<string, any>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** Every closed relation was tried, in order, and refused by Airlock. */
function assertClosed(out: Array<Record<string, any>>): void {
  const closed = out.filter((o) => o.step === 'closed');
  assert.deepEqual(
    closed.map((c) => c.relation),
    CLOSED,
  );
  for (const c of closed) {
    assert.equal(c.refused, true, `${c.relation} was readable`);
    assert.match(c.message, /is not allowed through Airlock/);
  }
}

function step(out: Array<Record<string, any>>, name: string): Record<string, any> {
  const s = out.find((o) => o.step === name);
  assert.ok(s, `the client printed no "${name}" step`);
  return s;
}

describe('real PostgreSQL clients through the front door', () => {
  let t: TestStack;
  let token: string;
  let clear: Clear[];
  let totals: Map<number, string>;
  let orderIds: string[];

  before(async () => {
    // a second reading rule, for one more group, mints a credential per statement: its session settings must survive
    t = await startTestStack({
      configure: (config) => {
        const read = config.policies.find((p: { name: string }) => p.name === 'analysts-read');
        config.policies.push({ ...read, name: 'per-statement-read', groups: ['per-statement'], leaseMode: 'statement' });
      },
    });
    token = await t.token({ subject: 'client-analyst', groups: ['analysts'] });
    const upstream = new pg.Client({ connectionString: t.demoUrl });
    await upstream.connect();
    try {
      clear = (await upstream.query('SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id <= 3 ORDER BY id')).rows;
      const orders = (await upstream.query('SELECT id, total::text FROM orders ORDER BY id')).rows as Array<{ id: number; total: string }>;
      totals = new Map(orders.map((o) => [o.id, o.total]));
      orderIds = orders.map((o) => String(o.id));
    } finally {
      await upstream.end();
    }
    assert.equal(clear.length, 3);
  });
  after(async () => {
    await t?.close();
  });

  describe('psql', () => {
    const psql = async (...commands: string[]) => {
      const args = [t.pgUrl(token), '-X', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])];
      return run('psql', args, { timeout: 60_000 }).then(
        (r) => ({ ok: true, stdout: r.stdout, stderr: r.stderr }),
        (e: { stdout: string; stderr: string }) => ({ ok: false, stdout: e.stdout, stderr: e.stderr }),
      );
    };

    it('\\dt and \\dn list the tables and schemas', async () => {
      const dt = await psql('\\dt');
      assert.ok(dt.ok, dt.stderr);
      assert.match(dt.stdout, /^ public \| customers \| table \| \S+\s*$/m);
      assert.match(dt.stdout, /^ public \| orders\s+\| table \| \S+\s*$/m);
      assert.match(dt.stdout, /\(2 rows\)/);
      const dn = await psql('\\dn');
      assert.ok(dn.ok, dn.stderr);
      assert.match(dn.stdout, /^ public \|/m);
    });

    it('\\d customers and \\d orders show columns with types, the primary key and the foreign key', async () => {
      const d = await psql('\\d customers');
      assert.ok(d.ok, d.stderr);
      assert.match(d.stdout, /Table "public\.customers"/);
      for (const column of ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes']) assert.match(d.stdout, new RegExp(`^ ${column}\\s+\\| (integer|text)\\s`, 'm'));
      assert.match(d.stdout, /"customers_pkey" PRIMARY KEY, btree \(id\)/);
      assert.match(d.stdout, /TABLE "orders" CONSTRAINT "orders_customer_id_fkey" FOREIGN KEY \(customer_id\) REFERENCES customers\(id\)/);
      const o = await psql('\\d orders');
      assert.ok(o.ok, o.stderr);
      assert.match(o.stdout, /^ total\s+\| numeric\(10,2\)/m);
      assert.match(o.stdout, /"orders_customer_id_fkey" FOREIGN KEY \(customer_id\) REFERENCES customers\(id\)/);
    });

    it('\\conninfo, SET and SHOW work; \\x shows masked values, one per line', async () => {
      const info = await psql('\\conninfo');
      assert.ok(info.ok, info.stderr);
      assert.match(info.stdout, /You are connected to database "demo" as user "agent"/);
      const set = await psql("SET application_name = 'psql-probe'", 'SHOW application_name', "SET TIME ZONE 'UTC'", 'SHOW timezone');
      assert.ok(set.ok, set.stderr);
      assert.match(set.stdout, /psql-probe/);
      assert.match(set.stdout, /^ UTC$/m);
      const x = await psql('\\x', 'SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id = 1');
      assert.ok(x.ok, x.stderr);
      const want = masked(clear[0]!);
      const shown = Object.fromEntries(
        x.stdout
          .split('\n')
          .filter((l) => / \| /.test(l))
          .map((l) => l.split(/\s+\|\s?/).map((s) => s.trim()) as [string, string]),
      );
      assert.deepEqual(
        ['id', 'name', 'email', 'phone', 'card_number', 'ssn'].map((k) => shown[k]),
        want,
      );
    });

    it('a write is refused and each data-bearing catalog relation is closed', async () => {
      const w = await psql('DROP TABLE orders');
      assert.equal(w.ok, false);
      assert.match(w.stderr, /Airlock refused this statement \(rule "refuse-ddl"\)/);
      for (const relation of CLOSED) {
        const r = await psql(`SELECT * FROM ${relation}`);
        assert.equal(r.ok, false, `${relation} was readable`);
        assert.match(r.stderr, /is not allowed through Airlock/, relation);
      }
    });
  });

  describe('node-postgres', () => {
    it('simple and extended protocol, catalog reads, pg-cursor, a masked read and a refused write', async () => {
      const c = new pg.Client({ connectionString: t.pgUrl(token) });
      await c.connect();
      try {
        const tables = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
        assert.deepEqual(tables.rows.map((r) => r.table_name), ['customers', 'orders']);
        const columns = await c.query('SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position', ['orders']);
        assert.deepEqual(columns.rows, [
          { column_name: 'id', data_type: 'integer' },
          { column_name: 'customer_id', data_type: 'integer' },
          { column_name: 'total', data_type: 'numeric' },
          { column_name: 'created_at', data_type: 'timestamp with time zone' },
        ]);
        const version = await c.query('SHOW server_version');
        assert.match(version.rows[0].server_version, /^15\./);
        const one = await c.query('SELECT total::text AS total FROM orders WHERE id = $1', [2]);
        assert.deepEqual(one.rows, [{ total: totals.get(2) }]);
        const rows = await c.query({ text: 'SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id <= $1 ORDER BY id', values: [3], rowMode: 'array' });
        assert.deepEqual(rows.rows.map((r: unknown[]) => r.map(String)), clear.map(masked));

        const cursor = c.query(new Cursor('SELECT id FROM orders ORDER BY id'));
        const seen: string[] = [];
        for (;;) {
          const batch = (await cursor.read(7)) as Array<{ id: number }>;
          if (batch.length === 0) break;
          seen.push(...batch.map((r) => String(r.id)));
        }
        await cursor.close();
        assert.deepEqual(seen, orderIds);

        await assert.rejects(c.query('DROP TABLE orders'), (e: any) => e.code === '42501' && /rule "refuse-ddl"/.test(e.message));
        for (const relation of CLOSED) {
          await assert.rejects(c.query(`SELECT * FROM ${relation}`), (e: any) => /is not allowed through Airlock/.test(e.message), relation);
        }
      } finally {
        await c.end();
      }
    });
  });

  describe('JDBC 42.x', () => {
    it('DatabaseMetaData, a PreparedStatement past prepareThreshold, a fetch-size read, a masked read and a refused write', async (ctx) => {
      const java = spawnSync('java', ['-version']).status === 0;
      if (!requireClient(ctx, existsSync(JDBC_JAR) && java, 'apt-get install libpostgresql-jdbc-java default-jre-headless (or set AIRLOCK_JDBC_JAR)')) return;
      const port = t.ports['pgwire'];
      const { stdout } = await run('java', ['-cp', JDBC_JAR, jdbcProbe, `jdbc:postgresql://127.0.0.1:${port}/demo`, 'jdbc-agent', token, ...CLOSED], { timeout: 120_000 });
      const out = lines(stdout);
      ctx.diagnostic(`${out.length} steps`);
      assert.deepEqual(step(out, 'tables').tables, ['customers', 'orders']);
      assert.deepEqual(step(out, 'columns').columns, [
        ['id', 'int4'],
        ['name', 'text'],
        ['email', 'text'],
        ['phone', 'text'],
        ['card_number', 'text'],
        ['ssn', 'text'],
        ['notes', 'text'],
      ]);
      assert.deepEqual(step(out, 'primaryKeys').columns, ['id']);
      assert.deepEqual(step(out, 'foreignKeys').keys, [['customer_id', 'customers', 'id']]);
      assert.deepEqual(step(out, 'prepared').totals, [1, 2, 3, 4, 5, 6, 7, 8].map((id) => totals.get(id)));
      assert.deepEqual(step(out, 'fetchSize').ids, orderIds);
      assert.deepEqual(step(out, 'masked').rows, clear.map(masked));
      const w = step(out, 'refusedWrite');
      assert.equal(w.refused, true);
      assert.equal(w.sqlState, '42501');
      assertClosed(out);
    });
  });

  describe('SQLAlchemy 1.4 + psycopg2', () => {
    it('the inspector lists tables, columns and keys; a bound-parameter read is masked; writes and closed relations are refused', async (ctx) => {
      if (!requireClient(ctx, pythonHas('sqlalchemy, psycopg2'), 'apt-get install python3-sqlalchemy python3-psycopg2 (or set AIRLOCK_PYTHON)')) return;
      const url = `postgresql+psycopg2://sa-agent:${encodeURIComponent(token)}@127.0.0.1:${t.ports['pgwire']}/demo?sslmode=disable`;
      const { stdout } = await run(PYTHON, [sqlalchemyProbe, url, ...CLOSED], { timeout: 120_000 }).catch((e: { stdout: string; stderr: string }) => {
        assert.fail(`the SQLAlchemy probe failed (install python3-sqlalchemy and python3-psycopg2 if missing):\n${e.stderr}`);
      });
      const out = lines(stdout);
      assert.deepEqual(step(out, 'tables').tables, ['customers', 'orders']);
      assert.deepEqual(step(out, 'columns').columns, [
        ['id', 'INTEGER'],
        ['name', 'TEXT'],
        ['email', 'TEXT'],
        ['phone', 'TEXT'],
        ['card_number', 'TEXT'],
        ['ssn', 'TEXT'],
        ['notes', 'TEXT'],
      ]);
      assert.deepEqual(step(out, 'primaryKey').columns, ['id']);
      assert.deepEqual(step(out, 'foreignKeys').keys, [[['customer_id'], 'customers', ['id']]]);
      assert.deepEqual(step(out, 'masked').rows, clear.map(masked));
      assert.equal(step(out, 'refusedWrite').refused, true);
      assertClosed(out);
    });
  });

  describe('SQL-level prepared statements and cursors', () => {
    it('EXECUTE and FETCH come back masked with the plan of their own PREPARE and DECLARE, whatever is prepared again under the name', async () => {
      const c = new pg.Client({ connectionString: t.pgUrl(token) });
      await c.connect();
      const clearSsn = clear.map((r) => r.ssn);
      const noClear = (rows: unknown[][]) => {
        for (const row of rows) for (const v of row) assert.ok(!clearSsn.some((ssn) => String(v).includes(ssn.replace(/-/g, '/'))), `a clear value came back: ${String(v)}`);
      };
      try {
        await c.query("PREPARE p (int) AS SELECT id, replace(ssn, '-', '/') AS d FROM customers WHERE id <= $1 ORDER BY id");
        // the same name again, for a statement without masked columns: the server refuses it and keeps the first one,
        // so the first one's masking plan must stay
        await assert.rejects(c.query('PREPARE p (int) AS SELECT id, name AS d FROM customers WHERE id <= $1 ORDER BY id'), (e: any) => e.code === '42P05');
        const executed = await c.query({ text: 'EXECUTE p(3)', rowMode: 'array' });
        assert.deepEqual(executed.rows, [
          [1, '[REDACTED]'],
          [2, '[REDACTED]'],
          [3, '[REDACTED]'],
        ]);
        noClear(executed.rows);
        await c.query('DEALLOCATE p');
        await assert.rejects(c.query('EXECUTE p(3)'), (e: any) => e.code === '26000');

        await c.query('BEGIN');
        await c.query("DECLARE c CURSOR WITH HOLD FOR SELECT id, replace(ssn, '-', '/') AS d FROM customers ORDER BY id");
        await c.query('COMMIT');
        await c.query('BEGIN');
        await assert.rejects(c.query('DECLARE c CURSOR FOR SELECT id, name AS d FROM customers ORDER BY id'), (e: any) => e.code === '42P03');
        await c.query('ROLLBACK');
        const fetched = await c.query({ text: 'FETCH 2 FROM c', rowMode: 'array' });
        assert.deepEqual(fetched.rows, [
          [1, '[REDACTED]'],
          [2, '[REDACTED]'],
        ]);
        noClear(fetched.rows);
        await c.query('CLOSE c');
        await assert.rejects(c.query('FETCH 1 FROM c'), (e: any) => e.code === '34000');
        await assert.rejects(c.query('EXECUTE never_prepared'), (e: any) => e.code === '26000');
      } finally {
        await c.end();
      }
    });
  });

  describe('a credential per statement', () => {
    it('SET survives on every fresh upstream session, DISCARD ALL forgets it, and reads stay masked', async () => {
      const perStatement = await t.token({ subject: 'client-per-statement', groups: ['per-statement'] });
      const c = new pg.Client({ connectionString: t.pgUrl(perStatement) });
      await c.connect();
      try {
        await c.query("SET application_name = 'per-statement-probe'");
        await c.query("SET TIME ZONE 'Asia/Kolkata'");
        assert.deepEqual((await c.query('SHOW application_name')).rows, [{ application_name: 'per-statement-probe' }]);
        assert.deepEqual((await c.query('SHOW timezone')).rows, [{ TimeZone: 'Asia/Kolkata' }]);
        const rows = await c.query({ text: 'SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id <= 3 ORDER BY id', rowMode: 'array' });
        assert.deepEqual(rows.rows.map((r: unknown[]) => r.map(String)), clear.map(masked));
        await c.query('DISCARD ALL');
        assert.notEqual((await c.query('SHOW application_name')).rows[0].application_name, 'per-statement-probe');
        await assert.rejects(c.query('SET search_path = evil'), (e: any) => /search_path/.test(e.message) && /not allowed through Airlock/.test(e.message));
        await assert.rejects(c.query('SET standard_conforming_strings = off'), (e: any) => /Airlock sets it for you/.test(e.message));
      } finally {
        await c.end();
      }
    });
  });

  describe('third-party MCP servers discover the schema', () => {
    it('@modelcontextprotocol/server-postgres lists and reads its table resources', async () => {
      const client = await mcpServer([serverPostgres, t.pgUrl(token)]);
      try {
        const { resources } = await client.listResources();
        assert.deepEqual(resources.map((r) => r.uri.replace(/^postgres:\/\/[^/]+\//, '')).sort(), ['customers/schema', 'orders/schema']);
        const orders = resources.find((r) => r.uri.endsWith('/orders/schema'))!;
        const read = await client.readResource({ uri: orders.uri });
        const content = read.contents[0];
        assert.ok(content !== undefined && 'text' in content, 'the resource has no text');
        assert.deepEqual(JSON.parse(content.text), [
          { column_name: 'id', data_type: 'integer' },
          { column_name: 'customer_id', data_type: 'integer' },
          { column_name: 'total', data_type: 'numeric' },
          { column_name: 'created_at', data_type: 'timestamp with time zone' },
        ]);
        for (const relation of CLOSED) {
          // the server answers a database error with a JSON-RPC error carrying the database's message
          await assert.rejects(client.callTool({ name: 'query', arguments: { sql: `SELECT * FROM ${relation}` } }), (e: Error) => /is not allowed through Airlock/.test(e.message), relation);
        }
      } finally {
        await client.close();
      }
    });

    it('@bytebase/dbhub finds schemas, tables, columns and indexes with search_objects', async () => {
      const client = await mcpServer([dbhub, '--transport', 'stdio', '--dsn', t.pgUrl(token)]);
      const search = async (args: Record<string, unknown>) => {
        const r = (await client.callTool({ name: 'search_objects', arguments: args })) as CallToolResult;
        const text = r.content[0]?.type === 'text' ? r.content[0].text : '';
        const parsed = JSON.parse(text) as { success: boolean; data: { results: Array<Record<string, unknown>> } };
        assert.equal(parsed.success, true, text);
        return parsed.data.results;
      };
      try {
        assert.deepEqual(await search({ object_type: 'schema' }), [{ name: 'public' }]);
        assert.deepEqual((await search({ object_type: 'table', schema: 'public' })).map((r) => r.name), ['customers', 'orders']);
        const columns = await search({ object_type: 'column', schema: 'public', table: 'orders', detail_level: 'full' });
        assert.deepEqual(
          columns.map((c) => [c.name, c.type]),
          [
            ['id', 'integer'],
            ['customer_id', 'integer'],
            ['total', 'numeric'],
            ['created_at', 'timestamp with time zone'],
          ],
        );
        assert.deepEqual((await search({ object_type: 'index', schema: 'public', table: 'orders' })).map((r) => r.name), ['orders_pkey']);
        for (const relation of CLOSED) {
          const r = (await client.callTool({ name: 'execute_sql', arguments: { sql: `SELECT * FROM ${relation}` } })) as CallToolResult;
          const text = r.content[0]?.type === 'text' ? r.content[0].text : '';
          assert.match(text, /is not allowed through Airlock/, `${relation}: ${text}`);
        }
      } finally {
        await client.close();
      }
    });
  });
});
