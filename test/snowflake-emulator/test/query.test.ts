import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  connect,
  connectAdmin,
  createFixture,
  destroy,
  exec,
  execError,
  execStatement,
  rsaKeyPair,
  tokensOf,
  type Connection,
  type Fixture,
  type SfError,
} from './helpers.js';

describe('queries', () => {
  let f: Fixture;
  let admin: Connection;
  let agent: Connection;
  const agentKey = rsaKeyPair();

  before(async () => {
    // A short hold before "in progress" lets the polling tests run in seconds.
    f = await createFixture({ resultWaitMs: 300 });
    admin = await connectAdmin(f.emulator.url);
    await exec(admin, 'CREATE ROLE reader');
    await exec(admin, `CREATE USER agt TYPE = SERVICE RSA_PUBLIC_KEY = '${agentKey.publicKeyBody}' DEFAULT_ROLE = READER`);
    await exec(admin, 'GRANT ROLE READER TO USER AGT');
    agent = await connect(f.emulator.url, { username: 'AGT', authenticator: 'SNOWFLAKE_JWT', privateKey: agentKey.privateKeyPem });
  });
  after(async () => {
    await destroy(agent).catch(() => undefined);
    await destroy(admin).catch(() => undefined);
    await f.cleanup();
  });

  it('DDL answers the status row', async () => {
    const { stmt, rows } = await execStatement(
      admin,
      `CREATE TABLE DEMO.PUBLIC.typed (id NUMBER, amount NUMBER(10,2), ratio FLOAT, label STRING, flag BOOLEAN, day DATE, clock TIME,
        ntz TIMESTAMP_NTZ, ltz TIMESTAMP_LTZ, tz TIMESTAMP_TZ(9), doc VARIANT, obj OBJECT, arr ARRAY, bin BINARY, "MixedCase" TEXT)`,
    );
    assert.deepEqual(rows, [{ status: 'Table TYPED successfully created.' }]);
    assert.equal(stmt.getNumUpdatedRows(), -1);
    assert.deepEqual(await exec(admin, 'CREATE TABLE scratch (x INT)'), [{ status: 'Table SCRATCH successfully created.' }]);
    assert.deepEqual(await exec(admin, 'DROP TABLE scratch'), [{ status: 'SCRATCH successfully dropped.' }]);
    assert.deepEqual(await exec(admin, 'CREATE OR REPLACE TABLE scratch (x INT)'), [{ status: 'Table SCRATCH successfully created.' }]);
    assert.deepEqual(await exec(admin, 'CREATE OR REPLACE TABLE scratch (y INT)'), [{ status: 'Table SCRATCH successfully created.' }]);
    assert.deepEqual(await exec(admin, 'SELECT * FROM scratch'), []);
  });

  it('DML answers row counts with Snowflake column names', async () => {
    const ins = await execStatement(
      admin,
      `INSERT INTO typed VALUES
        (1, 12.5, 1.5, 'héllo', TRUE, '2024-01-01', '01:02:03.5', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05.123+01:00',
         '2024-01-02 03:04:05.123+01:00', PARSE_JSON('{"a":[1,2],"b":null}'), '{"k":"v"}', '[1,"x"]', '\\x48656c6c6f', 'Keep'),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, -0.01, -2.25e10, 'x', FALSE, '1969-12-31', '23:59:59', '1969-12-31 23:59:59.5', '1970-01-01 00:00:00+00', '2024-06-30 12:00:00-05:30', '[]', '{}', '[]', '\\x', '')`,
    );
    assert.deepEqual(ins.rows, [{ 'number of rows inserted': 3 }]);
    assert.equal(ins.stmt.getNumUpdatedRows(), 3);
    const upd = await execStatement(admin, "UPDATE typed SET label = 'y' WHERE id >= 2");
    assert.deepEqual(upd.rows, [{ 'number of rows updated': 2, 'number of multi-joined rows updated': 0 }]);
    assert.equal(upd.stmt.getNumUpdatedRows(), 2);
    await exec(admin, 'INSERT INTO scratch (y) VALUES (?), (?)', [7, 8]);
    const del = await execStatement(admin, 'DELETE FROM scratch WHERE y = 7');
    assert.deepEqual(del.rows, [{ 'number of rows deleted': 1 }]);
    assert.equal(del.stmt.getNumUpdatedRows(), 1);
    const none = await execStatement(admin, 'DELETE FROM scratch WHERE y = 99');
    assert.deepEqual(none.rows, [{ 'number of rows deleted': 0 }]);
  });

  it('SELECT returns every type as the exact JS value through the real driver', async () => {
    const rows = await exec(admin, 'SELECT * FROM typed ORDER BY id');
    assert.equal(rows.length, 3);
    const [r1, r2, r3] = rows;
    assert.deepEqual(Object.keys(r1), ['ID', 'AMOUNT', 'RATIO', 'LABEL', 'FLAG', 'DAY', 'CLOCK', 'NTZ', 'LTZ', 'TZ', 'DOC', 'OBJ', 'ARR', 'BIN', 'MixedCase']);
    assert.equal(r1.ID, 1);
    assert.equal(r1.AMOUNT, 12.5);
    assert.equal(r1.RATIO, 1.5);
    assert.equal(r1.LABEL, 'héllo');
    assert.equal(r1.FLAG, true);
    assert.equal((r1.DAY as Date).getTime(), Date.UTC(2024, 0, 1));
    assert.equal(r1.CLOCK, '01:02:03');
    assert.equal((r1.NTZ as Date).getTime(), Date.UTC(2024, 0, 2, 3, 4, 5, 123));
    assert.equal((r1.LTZ as Date).getTime(), Date.UTC(2024, 0, 2, 2, 4, 5, 123));
    assert.equal((r1.TZ as Date).getTime(), Date.UTC(2024, 0, 2, 2, 4, 5, 123));
    assert.deepEqual(r1.DOC, { a: [1, 2], b: null });
    assert.deepEqual(r1.OBJ, { k: 'v' });
    assert.deepEqual(r1.ARR, [1, 'x']);
    assert.ok(Buffer.isBuffer(r1.BIN));
    assert.equal((r1.BIN as Buffer).toString('utf8'), 'Hello');
    assert.equal(r1.MixedCase, 'Keep');
    for (const k of ['AMOUNT', 'RATIO', 'FLAG', 'DAY', 'NTZ', 'LTZ', 'TZ', 'DOC', 'OBJ', 'ARR', 'BIN', 'MixedCase']) assert.equal(r2[k], null, k);
    assert.equal(r2.LABEL, 'y');
    assert.equal(r3.AMOUNT, -0.01);
    assert.equal(r3.RATIO, -22500000000);
    assert.equal(r3.FLAG, false);
    assert.equal((r3.DAY as Date).getTime(), Date.UTC(1969, 11, 31));
    assert.equal(r3.CLOCK, '23:59:59');
    assert.equal((r3.NTZ as Date).getTime(), Date.UTC(1969, 11, 31, 23, 59, 59, 500));
    assert.equal((r3.LTZ as Date).getTime(), 0);
    assert.equal((r3.TZ as Date).getTime(), Date.UTC(2024, 5, 30, 17, 30));
    assert.deepEqual(r3.DOC, []);
    assert.deepEqual(r3.OBJ, {});
    assert.equal((r3.BIN as Buffer).length, 0);
  });

  it('reports Snowflake rowtypes', async () => {
    const { stmt } = await execStatement(admin, 'SELECT amount, ntz, ltz, tz, doc, obj, arr, bin, clock, day, flag, ratio, label, 1 + 1 AS two FROM typed');
    const types = stmt.getColumns()!.map((c) => [c.getName(), c.getType(), c.getScale() ?? null]);
    assert.deepEqual(types, [
      ['AMOUNT', 'fixed', 2],
      ['NTZ', 'timestamp_ntz', 9],
      ['LTZ', 'timestamp_ltz', 9],
      ['TZ', 'timestamp_tz', 9],
      ['DOC', 'variant', null],
      ['OBJ', 'object', null],
      ['ARR', 'array', null],
      ['BIN', 'binary', null],
      ['CLOCK', 'time', 9],
      ['DAY', 'date', null],
      ['FLAG', 'boolean', null],
      ['RATIO', 'real', null],
      ['LABEL', 'text', null],
      ['TWO', 'fixed', 0],
    ]);
  });

  it('binds ? and :n parameters of every driver type', async () => {
    const rows = await exec(admin, 'SELECT ?::int + 1 AS n, ? AS s, ?::boolean AS b, ?::float AS f, PARSE_JSON(?) AS v, :2 AS again', [41, 'txt', true, 2.5, { a: 1 }]);
    assert.deepEqual(rows, [{ N: 42, S: 'txt', B: true, F: 2.5, V: { a: 1 }, AGAIN: 'txt' }]);
    const byId = await exec(admin, 'SELECT label FROM typed WHERE id = :1', [1]);
    assert.deepEqual(byId, [{ LABEL: 'héllo' }]);
    const nul = await exec(admin, 'SELECT ? IS NULL AS isnull', [null]);
    assert.deepEqual(nul, [{ ISNULL: true }]);
    // Array binding: one statement, many rows.
    const batch = await exec(admin, 'INSERT INTO scratch (y) VALUES (?)', [[10], [11], [12]]);
    assert.deepEqual(batch, [{ 'number of rows inserted': 3 }]);
  });

  it('translates Snowflake spellings', async () => {
    const rows = await exec(admin, "SELECT CURRENT_WAREHOUSE() AS wh, IFF(1 > 0, 'yes', 'no') AS iff, NVL(NULL, 3) AS nvl, CURRENT_TIMESTAMP() IS NOT NULL AS ts, ARRAY_CONSTRUCT(1, 2) AS arr, OBJECT_CONSTRUCT('a', 1) AS obj");
    assert.deepEqual(rows, [{ WH: 'COMPUTE_WH', IFF: 'yes', NVL: 3, TS: true, ARR: [1, 2], OBJ: { a: 1 } }]);
    assert.deepEqual(await exec(admin, 'SELECT COUNT(*) AS n FROM demo.public.TYPED'), [{ N: 3 }]);
  });

  it('translates PostgreSQL errors into Snowflake errors', async () => {
    const missing = await execError(admin, 'SELECT * FROM nope');
    assert.equal(missing.code, '002003');
    assert.equal(missing.sqlState, '42S02');
    assert.equal(missing.message, "SQL compilation error:\nObject 'NOPE' does not exist or not authorized.");
    assert.match(String(missing.data?.queryId), /^[0-9a-f-]{36}$/);
    const syntax = await execError(admin, 'SELEC 1');
    assert.equal(syntax.code, '001003');
    assert.equal(syntax.sqlState, '42601');
    assert.match(syntax.message, /^SQL compilation error:\nsyntax error line 1 at position \d+ unexpected 'SELEC'\.$/);
    const column = await execError(admin, 'SELECT nope FROM typed');
    assert.equal(column.code, '000904');
    assert.match(column.message, /invalid identifier 'NOPE'$/);
  });

  it('a role without the grant gets the access-control error; the grant fixes it', async () => {
    const denied = await execError(agent, 'SELECT id FROM typed WHERE id = 1');
    assert.equal(denied.code, '003001');
    assert.equal(denied.sqlState, '42501');
    assert.equal(denied.message, "SQL access control error:\nInsufficient privileges to operate on table 'TYPED'");
    await exec(admin, 'GRANT SELECT ON typed TO ROLE reader');
    assert.deepEqual(await exec(agent, 'SELECT id FROM typed WHERE id = 1'), [{ ID: 1 }]);
    const write = await execError(agent, "UPDATE typed SET label = 'no'");
    assert.equal(write.code, '003001');
    await exec(admin, 'REVOKE SELECT ON typed FROM ROLE reader');
    assert.equal((await execError(agent, 'SELECT id FROM typed')).code, '003001');
    const ddl = await execError(agent, 'CREATE TABLE mine (x INT)');
    assert.equal(ddl.code, '003001');
    assert.equal(ddl.message, "SQL access control error:\nInsufficient privileges to operate on schema 'PUBLIC'");
  });

  it('records QUERY_TAG from the connection option, ALTER SESSION and statement parameters', async () => {
    const opts = { username: 'AGT', authenticator: 'SNOWFLAKE_JWT', privateKey: agentKey.privateKeyPem };
    // The driver's queryTag option travels in the login's SESSION_PARAMETERS; ALTER SESSION replaces it.
    const tagged = await connect(f.emulator.url, { ...opts, queryTag: '{"grant":"g-1"}' } as never);
    await exec(tagged, "SELECT 'option-tag' AS q");
    await exec(tagged, "ALTER SESSION SET QUERY_TAG = 'altered'");
    await exec(tagged, "SELECT 'altered' AS q");
    await destroy(tagged);
    const plain = await connect(f.emulator.url, opts);
    await exec(plain, "SELECT 'untagged' AS q");
    await exec(plain, "ALTER SESSION SET QUERY_TAG = 'session-tag'");
    await exec(plain, "SELECT 'session-tag' AS q");
    await exec(plain, "SELECT 'statement-tag' AS q", undefined, { parameters: { QUERY_TAG: 'statement-tag' } });
    await exec(plain, 'ALTER SESSION UNSET QUERY_TAG');
    await exec(plain, "SELECT 'unset' AS q");
    await destroy(plain);
    const history = (await f.emulator.queryHistory()).filter((h) => h.sqlText.startsWith("SELECT '"));
    assert.deepEqual(
      history.map((h) => [h.sqlText, h.queryTag, h.user, h.role, h.status]),
      [
        ["SELECT 'option-tag' AS q", '{"grant":"g-1"}', 'AGT', 'READER', 'SUCCESS'],
        ["SELECT 'altered' AS q", 'altered', 'AGT', 'READER', 'SUCCESS'],
        ["SELECT 'untagged' AS q", null, 'AGT', 'READER', 'SUCCESS'],
        ["SELECT 'session-tag' AS q", 'session-tag', 'AGT', 'READER', 'SUCCESS'],
        ["SELECT 'statement-tag' AS q", 'statement-tag', 'AGT', 'READER', 'SUCCESS'],
        ["SELECT 'unset' AS q", null, 'AGT', 'READER', 'SUCCESS'],
      ],
    );
    // A failed statement is recorded too.
    await execError(agent, 'SELECT * FROM typed');
    const failed = (await f.emulator.queryHistory()).at(-1);
    assert.deepEqual([failed?.sqlText, failed?.status], ['SELECT * FROM typed', 'FAILED']);
  });

  it('an async query is polled to completion with getQueryStatus and getResultsFromQueryId', async () => {
    const { stmt } = await execStatement(admin, 'SELECT pg_sleep(1.2) IS NOT NULL AS slept, 7 AS seven', { asyncExec: true });
    const queryId = stmt.getQueryId();
    assert.match(queryId, /^[0-9a-f-]{36}$/);
    assert.equal(await admin.getQueryStatus(queryId), 'RUNNING');
    assert.equal((await f.emulator.queryHistory()).find((h) => h.queryId === queryId)?.status, 'RUNNING');
    const result = await admin.getResultsFromQueryId({ queryId, sqlText: '' } as never);
    const rows = await new Promise<unknown[]>((resolve, reject) => {
      const out: unknown[] = [];
      result.streamRows().on('data', (r: unknown) => out.push(r)).on('end', () => resolve(out)).on('error', reject);
    });
    assert.deepEqual(rows, [{ SLEPT: true, SEVEN: 7 }]);
    assert.equal(await admin.getQueryStatus(queryId), 'SUCCESS');
  });

  it('a long synchronous statement answers 333333 and the driver polls the result URL', async () => {
    const token = tokensOf(admin).sessionToken;
    const res = await fetch(`${f.emulator.url}/queries/v1/query-request?requestId=r-1`, {
      method: 'POST',
      headers: { authorization: `Snowflake Token="${token}"`, 'content-type': 'application/json' },
      body: JSON.stringify({ sqlText: 'SELECT pg_sleep(1) IS NOT NULL AS done' }),
    });
    const first = (await res.json()) as { success: boolean; code: string; data: { queryId: string; getResultUrl: string } };
    assert.equal(first.success, true);
    assert.equal(first.code, '333333');
    assert.equal(first.data.getResultUrl, `/queries/${first.data.queryId}/result`);
    // The real driver follows the same path to the final answer.
    const started = Date.now();
    assert.deepEqual(await exec(admin, 'SELECT pg_sleep(1) IS NOT NULL AS done'), [{ DONE: true }]);
    assert.ok(Date.now() - started >= 1000);
    let body: { success: boolean; code: string | null; data: { rowset?: unknown[] } };
    do {
      const poll = await fetch(`${f.emulator.url}${first.data.getResultUrl}`, { headers: { authorization: `Snowflake Token="${token}"` } });
      body = (await poll.json()) as typeof body;
    } while (body.code === '333333');
    assert.deepEqual([body.success, body.data.rowset], [true, [['1']]]);
  });

  it('ALTER USER … ABORT ALL QUERIES cancels a running query with 000604', async () => {
    const running = exec(agent, 'SELECT pg_sleep(30)').then(
      () => null,
      (err: SfError) => err,
    );
    await waitFor(async () => (await f.emulator.queryHistory()).some((h) => h.sqlText === 'SELECT pg_sleep(30)' && h.status === 'RUNNING'));
    const started = Date.now();
    assert.deepEqual(await exec(admin, 'ALTER USER agt ABORT ALL QUERIES'), [{ status: 'Statement executed successfully.' }]);
    const err = await running;
    assert.ok(err, 'the query should fail');
    assert.equal(err.code, '000604');
    assert.equal(err.sqlState, '57014');
    assert.equal(err.message, 'SQL execution canceled');
    assert.ok(Date.now() - started < 5000);
    const h = (await f.emulator.queryHistory()).find((x) => x.sqlText === 'SELECT pg_sleep(30)');
    assert.equal(h?.status, 'ABORTED');
  });

  it("the driver's statement.cancel() aborts by request id", async () => {
    const err = await new Promise<SfError>((resolve, reject) => {
      const stmt = agent.execute({
        sqlText: 'SELECT pg_sleep(20) AS slow',
        complete: (e) => (e ? resolve(e as SfError) : reject(new Error('should have been canceled'))),
      });
      setTimeout(() => stmt.cancel(() => undefined), 150);
    });
    assert.equal(err.code, '000604');
    const res = await fetch(`${f.emulator.url}/queries/v1/abort-request`, {
      method: 'POST',
      headers: { authorization: `Snowflake Token="${tokensOf(agent).sessionToken}"`, 'content-type': 'application/json' },
      body: JSON.stringify({ requestId: 'not-running' }),
    });
    assert.deepEqual(await res.json(), {
      success: false,
      code: '',
      message: 'Identified SQL statement is not currently executing.',
      data: { errorCode: '000605', sqlState: '01000' },
      headers: null,
    });
  });

  it('runs table literals, IDENTIFIER, quoted upper-case names and the Snowflake functions agents use', async () => {
    await exec(admin, 'CREATE TABLE people (id NUMBER, name STRING, code STRING, doc VARIANT)');
    await exec(admin, `INSERT INTO people VALUES (1, 'ann', '275-10-5481', PARSE_JSON('[1,2,3]')), (2, 'bob', '12', PARSE_JSON('{"k":"v"}'))`);
    const cases: [sql: string, rows: Record<string, unknown>[]][] = [
      ["SELECT name FROM TABLE('people') ORDER BY id", [{ NAME: 'ann' }, { NAME: 'bob' }]],
      ["SELECT name FROM TABLE('DEMO.PUBLIC.PEOPLE') WHERE id = 1", [{ NAME: 'ann' }]],
      ["SELECT name FROM IDENTIFIER('people') WHERE id = 1", [{ NAME: 'ann' }]],
      ["SELECT IDENTIFIER('name') AS n FROM people WHERE id = 2", [{ N: 'bob' }]],
      ['SELECT "NAME" FROM "PUBLIC"."PEOPLE" WHERE "ID" = 1', [{ NAME: 'ann' }]],
      ['SELECT p.name FROM (people) p WHERE id = 2', [{ NAME: 'bob' }]],
      ["SELECT LISTAGG(name, ',') AS l FROM people", [{ L: 'ann,bob' }]],
      ['SELECT LISTAGG(id) AS l FROM people', [{ L: '12' }]],
      ["SELECT IFF(id = 1, 'one', 'other') AS v FROM people ORDER BY id", [{ V: 'one' }, { V: 'other' }]],
      ["SELECT DECODE(id, 1, 'one', 2, 'two', 'many') AS v FROM people ORDER BY id", [{ V: 'one' }, { V: 'two' }]],
      ["SELECT DECODE(id, 1, 'one') AS v FROM people ORDER BY id", [{ V: 'one' }, { V: null }]],
      ['SELECT TRY_TO_NUMBER(code) AS n FROM people ORDER BY id', [{ N: null }, { N: 12 }]],
      ['SELECT NVL2(code, 1, 0) AS n, ZEROIFNULL(NULL) AS z FROM people WHERE id = 1', [{ N: 1, Z: 0 }]],
      ['SELECT COUNT(*) AS n FROM people SAMPLE (100)', [{ N: 2 }]],
      ['SELECT COUNT(*) AS n FROM people TABLESAMPLE BERNOULLI (100)', [{ N: 2 }]],
      ['SELECT SEQ4() AS s FROM TABLE(GENERATOR(ROWCOUNT => 3))', [{ S: 0 }, { S: 1 }, { S: 2 }]],
      ['SELECT f.value AS v FROM people p, LATERAL FLATTEN(input => p.doc) f WHERE p.id = 1 ORDER BY f.index', [{ V: 1 }, { V: 2 }, { V: 3 }]],
      ['SELECT f.key AS k, f.value AS v FROM people p, TABLE(FLATTEN(input => p.doc)) f WHERE p.id = 2', [{ K: 'k', V: 'v' }]],
      ['SELECT ARRAY_AGG(id) AS a FROM people', [{ A: [1, 2] }]],
      ['SELECT TOP 1 name FROM people ORDER BY id DESC', [{ NAME: 'bob' }]],
    ];
    for (const [sql, rows] of cases) assert.deepEqual(await exec(admin, sql).catch((e: Error) => e.message), rows, sql);
    assert.equal(String((await exec(admin, 'SELECT UUID_STRING() AS u'))[0]?.['U']).length, 36);
  });

  it('quotes the value it could not convert in the error, as Snowflake does', async () => {
    const cases: [sql: string, code: string, sqlState: string, message: string][] = [
      ['SELECT TO_NUMBER(code) FROM people WHERE id = 1', '100038', '22018', "Numeric value '275-10-5481' is not recognized"],
      ['SELECT code::NUMBER FROM people WHERE id = 1', '100038', '22018', "Numeric value '275-10-5481' is not recognized"],
      ['SELECT CAST(name AS INTEGER) FROM people WHERE id = 2', '100038', '22018', "Numeric value 'bob' is not recognized"],
      ['SELECT name::DATE FROM people WHERE id = 1', '100040', '22007', "Date 'ann' is not recognized"],
      ['SELECT name::BOOLEAN FROM people WHERE id = 1', '100037', '22018', "Boolean value 'ann' is not recognized"],
      ["SELECT name FROM TABLE('no.such.db.people')", '001003', '42000', "SQL compilation error:\ninvalid identifier 'no.such.db.people'"],
    ];
    for (const [sql, code, sqlState, message] of cases) {
      const e = await execError(admin, sql);
      assert.deepEqual([e.code, e.sqlState, e.message], [code, sqlState, message], sql);
    }
  });

  it('accepts gzip request bodies and never answers 5xx', async () => {
    const { gzipSync } = await import('node:zlib');
    const token = tokensOf(admin).sessionToken;
    const res = await fetch(`${f.emulator.url}/queries/v1/query-request`, {
      method: 'POST',
      headers: { authorization: `Snowflake Token="${token}"`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ sqlText: 'SELECT 5 AS five' })),
    });
    const body = (await res.json()) as { data: { rowset: unknown[]; rowtype: Array<{ name: string }> } };
    assert.deepEqual([body.data.rowtype[0].name, body.data.rowset], ['FIVE', [['5']]]);
    const bad = await fetch(`${f.emulator.url}/queries/v1/query-request`, {
      method: 'POST',
      headers: { authorization: 'Snowflake Token="bogus"', 'content-type': 'application/json' },
      body: '{"sqlText":"select 1"}',
    });
    assert.equal(bad.status, 200);
    assert.equal(((await bad.json()) as { code: string }).code, '390104');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}
