/**
 * The unmodified `snowflake-sdk`, configured as a Snowflake MCP server configures it (accessUrl = Airlock, account =
 * the connection, OAUTH with the agent's token), discovers the demo warehouse's schema, sets up its session, reads
 * masked rows checked cell by cell against the clear upstream values, and is refused a write and the data-bearing views.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { demoAdminUser, demoAccount } from '@airlock/cli';
import { startTestStack, type TestStack } from '@airlock/testkit';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

type Row = Record<string, unknown>;

function connect(options: snowflake.ConnectionOptions): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection(options);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function execStatement(conn: snowflake.Connection, sqlText: string): Promise<{ rows: Row[]; stmt: snowflake.RowStatement }> {
  return new Promise((resolve, reject) =>
    conn.execute({ sqlText, complete: (err, stmt, rows) => (err ? reject(err) : resolve({ rows: (rows ?? []) as Row[], stmt })) }),
  );
}

const exec = async (conn: snowflake.Connection, sql: string): Promise<Row[]> => (await execStatement(conn, sql)).rows;

async function execError(conn: snowflake.Connection, sql: string): Promise<{ code: string; message: string }> {
  try {
    await exec(conn, sql);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error(`"${sql}" succeeded but should have been refused`);
}

const destroy = (conn: snowflake.Connection): Promise<void> => new Promise((resolve) => conn.destroy(() => resolve()));

describe('snowflake-sdk as Snowflake MCP servers use it, through the front door', () => {
  let t: TestStack;
  let agent: snowflake.Connection;
  let admin: snowflake.Connection;

  before(async () => {
    t = await startTestStack({
      keepWarehouse: true,
      // a credential per statement: the client's session settings must be replayed on each fresh upstream session
      configure: (config) => {
        config['connections']['warehouse']['leases'] = { ...config['connections']['warehouse']['leases'], mode: 'statement' };
        config['connections']['warehouse']['limits'] = { ...config['connections']['warehouse']['limits'], maxRows: 2_000_000 };
        config['policies'].unshift({ name: 'big-read', groups: ['analysts'], kinds: ['select'], tables: ['big'], decision: 'allow', role: 'reader' });
        config['masking']['rules'].push({ name: 'big-email', table: 'big', columns: ['email'], action: 'email', exemptGroups: ['pii-readers'] });
      },
    });
    const token = await t.token({ subject: 'mcp-sf', groups: ['analysts'] });
    agent = await connect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token } as snowflake.ConnectionOptions);
    admin = await connect({
      account: demoAccount,
      accessUrl: t.warehouse!.url,
      username: demoAdminUser,
      authenticator: 'SNOWFLAKE_JWT',
      privateKey: t.warehouse!.adminPrivateKeyPem,
    } as snowflake.ConnectionOptions);
  });
  after(async () => {
    if (agent) await destroy(agent);
    if (admin) await destroy(admin);
    await t?.close();
  });

  it('SHOW DATABASES, SHOW SCHEMAS and SHOW TABLES IN SCHEMA list what the lease role sees', async () => {
    const dbs = await execStatement(agent, 'SHOW DATABASES');
    assert.equal(dbs.stmt.getColumns()![1]!.getName(), 'name');
    assert.deepEqual(dbs.rows.map((r) => r.name), ['DEMO']);
    const schemas = await exec(agent, 'SHOW SCHEMAS IN DATABASE DEMO');
    assert.deepEqual(schemas.map((r) => r.name), ['INFORMATION_SCHEMA', 'PUBLIC']);
    const tables = await exec(agent, 'SHOW TABLES IN SCHEMA DEMO.PUBLIC');
    assert.deepEqual(tables.map((r) => [r.name, r.database_name, r.schema_name, r.kind]), [
      ['CUSTOMERS', 'DEMO', 'PUBLIC', 'TABLE'],
      ['ORDERS', 'DEMO', 'PUBLIC', 'TABLE'],
    ]);
  });

  it('DESCRIBE TABLE lists the columns with Snowflake types', async () => {
    const { rows, stmt } = await execStatement(agent, 'DESCRIBE TABLE customers');
    assert.deepEqual(stmt.getColumns()!.slice(0, 6).map((c) => c.getName()), ['name', 'type', 'kind', 'null?', 'default', 'primary key']);
    assert.deepEqual(rows.map((r) => r.name), ['ID', 'NAME', 'EMAIL', 'PHONE', 'CARD_NUMBER', 'SSN', 'NOTES']);
    assert.equal(rows[0]['primary key'], 'Y');
    assert.match(String(rows[0].type), /^NUMBER\(/);
    assert.match(String(rows[2].type), /^VARCHAR\(/);
  });

  it('INFORMATION_SCHEMA.COLUMNS lists the columns of a table', async () => {
    const rows = await exec(
      agent,
      "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'PUBLIC' AND table_name = 'CUSTOMERS' ORDER BY ordinal_position",
    );
    assert.deepEqual(rows.map((r) => r.COLUMN_NAME), ['ID', 'NAME', 'EMAIL', 'PHONE', 'CARD_NUMBER', 'SSN', 'NOTES']);
    assert.equal(rows[0].TABLE_NAME, 'CUSTOMERS');
  });

  it('USE WAREHOUSE and ALTER SESSION SET QUERY_TAG are accepted; a parsing parameter is refused with the reason', async () => {
    assert.deepEqual(await exec(agent, 'USE WAREHOUSE DEMO_WH'), [{ status: 'Statement executed successfully.' }]);
    assert.deepEqual(await exec(agent, "ALTER SESSION SET QUERY_TAG = 'mcp-discovery'"), [{ status: 'Statement executed successfully.' }]);
    const err = await execError(agent, 'ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE');
    assert.match(err.message, /QUOTED_IDENTIFIERS_IGNORE_CASE is not allowed through Airlock: it changes how Snowflake reads a statement/);
    const role = await execError(agent, 'USE ROLE ACCOUNTADMIN');
    assert.match(role.message, /USE ROLE ACCOUNTADMIN is not allowed through Airlock: your statements run with the role ANALYST/);
    assert.deepEqual(await exec(agent, 'USE ROLE ANALYST'), [{ status: 'Statement executed successfully.' }]);
  });

  it("the client's settings outlive a lease, and its QUERY_TAG travels beside Airlock's", async () => {
    await exec(agent, "ALTER SESSION SET QUERY_TAG = 'mcp-replay'");
    await exec(agent, 'USE SCHEMA PUBLIC');
    await exec(agent, 'SELECT id FROM orders WHERE id = 2');
    const db = new pg.Client({ connectionString: t.warehouseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ user_name: string; query_tag: string | null; sql_text: string }>(
        'SELECT user_name, query_tag, sql_text FROM _sfemu.query_history ORDER BY seq',
      );
      const select = rows.filter((r) => r.sql_text === 'SELECT id FROM orders WHERE id = 2').at(-1);
      assert.ok(select, 'the SELECT reached the warehouse');
      const tag = JSON.parse(select.query_tag ?? '{}') as { airlock?: { subject?: string }; client?: string };
      assert.equal(tag.airlock?.subject, 'mcp-sf');
      assert.equal(tag.client, 'mcp-replay');
      // whichever lease ran the SELECT ran the client's set-up first (replayed when the lease is new)
      const mine = rows.filter((r) => r.user_name === select.user_name).map((r) => r.sql_text);
      const at = mine.lastIndexOf('SELECT id FROM orders WHERE id = 2');
      assert.ok(mine.slice(0, at).includes("ALTER SESSION SET QUERY_TAG = 'mcp-replay'"), mine.join(' | '));
      assert.ok(mine.slice(0, at).includes('USE SCHEMA PUBLIC'), mine.join(' | '));
    } finally {
      await db.end();
    }
  });

  it('a masked read matches the clear upstream cell by cell', async () => {
    const clear = await exec(admin, 'SELECT id, name, email, phone, card_number, ssn FROM customers ORDER BY id');
    const masked = await exec(agent, 'SELECT id, name, email, phone, card_number, ssn FROM customers ORDER BY id');
    assert.equal(masked.length, clear.length);
    assert.ok(clear.length >= 5);
    for (let i = 0; i < clear.length; i++) {
      const c = clear[i];
      const m = masked[i];
      assert.equal(m.ID, c.ID);
      assert.equal(m.NAME, c.NAME);
      for (const k of ['EMAIL', 'PHONE', 'CARD_NUMBER', 'SSN']) assert.notEqual(m[k], c[k], `${k} of row ${String(c.ID)} came back clear`);
      assert.equal(String(m.PHONE).slice(-4), String(c.PHONE).slice(-4));
      assert.equal(String(m.CARD_NUMBER).slice(-4), String(c.CARD_NUMBER).slice(-4));
      assert.ok(!String(m.SSN).includes(String(c.SSN)));
    }
  });

  it('a write is refused', async () => {
    const err = await execError(agent, 'CREATE TABLE leak AS SELECT * FROM customers');
    assert.match(err.message, /no policy allows|not allowed/);
  });

  it('the data-bearing views stay closed', async () => {
    for (const sql of [
      'SELECT query_text FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY())',
      'SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY',
      'SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY',
      'SELECT * FROM INFORMATION_SCHEMA.TABLE_STORAGE_METRICS',
      'SHOW GRANTS TO ROLE ANALYST',
    ]) {
      const err = await execError(agent, sql);
      assert.match(err.message, /not allowed through Airlock|could not parse/, sql);
    }
  });

  it('1,000,000 rows come through the chunk path to the unmodified driver, masked', async () => {
    const db = new pg.Client({ connectionString: t.warehouseUrl });
    await db.connect();
    try {
      await db.query("CREATE TABLE big AS SELECT g AS id, 'user' || g || '@example.com' AS email FROM generate_series(1, 1000000) AS g");
    } finally {
      await db.end();
    }
    await exec(admin, 'GRANT SELECT ON TABLE big TO ROLE ANALYST');
    let count = 0;
    let sum = 0;
    let clear = 0;
    await new Promise<void>((resolve, reject) => {
      const stmt = agent.execute({ sqlText: 'SELECT id, email FROM big', streamResult: true });
      stmt
        .streamRows()
        .on('data', (row: Row) => {
          count += 1;
          sum += Number(row.ID);
          if (row.EMAIL === `user${String(row.ID)}@example.com` || String(row.EMAIL).startsWith(`user${String(row.ID)}@`)) clear += 1;
        })
        .on('error', reject)
        .on('end', () => resolve());
    });
    assert.equal(count, 1_000_000);
    assert.equal(sum, (1_000_000 * 1_000_001) / 2);
    assert.equal(clear, 0, 'every email is masked');
  });
});
