/**
 * SHOW and DESCRIBE as Snowflake answers them, through the unmodified driver: the documented output columns, names
 * folded to upper case, and only what the session's role may use.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, connectAdmin, createFixture, destroy, exec, execError, execStatement, rsaKeyPair, type Connection, type Fixture } from './helpers.js';

describe('metadata commands', () => {
  let f: Fixture;
  let admin: Connection;
  let agent: Connection;
  const agentKey = rsaKeyPair();

  before(async () => {
    f = await createFixture({});
    admin = await connectAdmin(f.emulator.url);
    await exec(admin, 'CREATE TABLE shown (id NUMBER(10,0) NOT NULL PRIMARY KEY, label VARCHAR(40), amount NUMBER(12,2), at TIMESTAMP_NTZ)');
    await exec(admin, 'CREATE TABLE hidden (secret STRING)');
    await exec(admin, 'CREATE ROLE lister');
    await exec(admin, 'GRANT SELECT ON TABLE shown TO ROLE lister');
    await exec(admin, `CREATE USER lst TYPE = SERVICE RSA_PUBLIC_KEY = '${agentKey.publicKeyBody}' DEFAULT_ROLE = LISTER`);
    await exec(admin, 'GRANT ROLE LISTER TO USER LST');
    agent = await connect(f.emulator.url, { username: 'LST', authenticator: 'SNOWFLAKE_JWT', privateKey: agentKey.privateKeyPem });
  });
  after(async () => {
    await destroy(agent).catch(() => undefined);
    await destroy(admin).catch(() => undefined);
    await f.cleanup();
  });

  it('SHOW DATABASES and SHOW SCHEMAS answer the documented columns', async () => {
    const { stmt, rows } = await execStatement(agent, 'SHOW DATABASES');
    assert.deepEqual(
      stmt.getColumns()!.map((c) => c.getName()),
      ['created_on', 'name', 'is_default', 'is_current', 'origin', 'owner', 'comment', 'options', 'retention_time', 'kind', 'budget', 'owner_role_type'],
    );
    assert.deepEqual(rows.map((r) => r.name), ['DEMO']);
    const schemas = await exec(agent, 'SHOW SCHEMAS IN DATABASE DEMO');
    assert.deepEqual(schemas.map((r) => [r.name, r.database_name]), [['INFORMATION_SCHEMA', 'DEMO'], ['PUBLIC', 'DEMO']]);
  });

  it('SHOW TABLES lists only what the role may use', async () => {
    const { stmt, rows } = await execStatement(agent, 'SHOW TABLES IN SCHEMA DEMO.PUBLIC');
    assert.deepEqual(stmt.getColumns()!.slice(0, 11).map((c) => c.getName()), ['created_on', 'name', 'database_name', 'schema_name', 'kind', 'comment', 'cluster_by', 'rows', 'bytes', 'owner', 'retention_time']);
    assert.deepEqual(rows.map((r) => [r.name, r.database_name, r.schema_name, r.kind]), [['SHOWN', 'DEMO', 'PUBLIC', 'TABLE']]);
    const all = (await exec(admin, "SHOW TABLES LIKE '%N'")).map((r) => r.name);
    assert.ok(all.includes('HIDDEN') && all.includes('SHOWN'), all.join(','));
    assert.deepEqual(await exec(agent, "SHOW TABLES LIKE 'hid%'"), []);
  });

  it('DESCRIBE TABLE answers name, type, kind, null?, default, primary key …', async () => {
    const { stmt, rows } = await execStatement(agent, 'DESCRIBE TABLE shown');
    assert.deepEqual(
      stmt.getColumns()!.map((c) => c.getName()),
      ['name', 'type', 'kind', 'null?', 'default', 'primary key', 'unique key', 'check', 'expression', 'comment', 'policy name', 'privacy domain'],
    );
    assert.deepEqual(
      rows.map((r) => [r.name, r.type, r.kind, r['null?'], r['primary key']]),
      [
        ['ID', 'NUMBER(10,0)', 'COLUMN', 'N', 'Y'],
        ['LABEL', 'VARCHAR(40)', 'COLUMN', 'Y', 'N'],
        ['AMOUNT', 'NUMBER(12,2)', 'COLUMN', 'Y', 'N'],
        ['AT', 'TIMESTAMP_NTZ(9)', 'COLUMN', 'Y', 'N'],
      ],
    );
    const err = await execError(agent, 'DESC TABLE hidden');
    assert.equal(err.code, '002003');
    assert.match(err.message, /does not exist or not authorized/);
  });

  it('SHOW COLUMNS answers Snowflake data_type JSON', async () => {
    const rows = await exec(agent, 'SHOW COLUMNS IN TABLE shown');
    assert.deepEqual(rows.map((r) => [r.table_name, r.column_name]), [['SHOWN', 'ID'], ['SHOWN', 'LABEL'], ['SHOWN', 'AMOUNT'], ['SHOWN', 'AT']]);
    assert.deepEqual(JSON.parse(String(rows[0].data_type)), { type: 'FIXED', precision: 10, scale: 0, nullable: false });
    assert.equal((await exec(agent, 'SHOW COLUMNS')).some((r) => r.table_name === 'HIDDEN'), false);
  });

  it('INFORMATION_SCHEMA views answer in Snowflake names and types, as the role sees them', async () => {
    const tables = await exec(agent, "SELECT table_name, table_type FROM DEMO.INFORMATION_SCHEMA.TABLES WHERE table_schema = 'PUBLIC' ORDER BY table_name");
    assert.deepEqual(tables, [{ TABLE_NAME: 'SHOWN', TABLE_TYPE: 'BASE TABLE' }]);
    const cols = await exec(agent, "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name = 'SHOWN' ORDER BY ordinal_position");
    assert.deepEqual(cols.map((r) => [r.COLUMN_NAME, r.DATA_TYPE, r.NUMERIC_PRECISION, r.NUMERIC_SCALE]), [
      ['ID', 'NUMBER', 10, 0],
      ['LABEL', 'TEXT', null, null],
      ['AMOUNT', 'NUMBER', 12, 2],
      ['AT', 'TIMESTAMP_NTZ', null, null],
    ]);
    const adminView = (await exec(admin, 'SELECT table_name FROM information_schema.tables')).map((r) => r.TABLE_NAME);
    assert.ok(adminView.includes('HIDDEN'));
    assert.deepEqual((await exec(agent, 'SELECT schema_name FROM information_schema.schemata ORDER BY 1')).map((r) => r.SCHEMA_NAME), ['INFORMATION_SCHEMA', 'PUBLIC']);
  });
});
