import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import snowflake from 'snowflake-sdk';
import { demoCustomers, demoAdminUser, demoAccount } from '@airlock/cli';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

type Row = Record<string, unknown>;
interface SfError {
  code: string;
  sqlState?: string;
  message: string;
  data?: Record<string, unknown>;
}

function connect(options: snowflake.ConnectionOptions): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection(options);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function execStatement(conn: snowflake.Connection, sqlText: string, binds?: unknown[]): Promise<{ rows: Row[]; stmt: snowflake.RowStatement }> {
  return new Promise((resolve, reject) =>
    conn.execute({
      sqlText,
      ...(binds ? { binds: binds as snowflake.Binds } : {}),
      complete: (err, stmt, rows) => (err ? reject(err) : resolve({ rows: (rows ?? []) as Row[], stmt })),
    }),
  );
}

const exec = async (conn: snowflake.Connection, sql: string, binds?: unknown[]): Promise<Row[]> => (await execStatement(conn, sql, binds)).rows;

async function execError(conn: snowflake.Connection, sql: string): Promise<SfError> {
  try {
    await exec(conn, sql);
  } catch (err) {
    return err as SfError;
  }
  throw new Error(`"${sql}" succeeded but should have failed`);
}

const destroy = (conn: snowflake.Connection): Promise<void> => new Promise((resolve) => conn.destroy(() => resolve()));


describe('unmodified snowflake-sdk through the Snowflake front door', () => {
  let t: TestStack;
  let analyst: string;
  let reader: string;
  let dba: string;
  let admin: snowflake.Connection;
  let accessUrl: string;
  const customers = demoCustomers();

  /** A client configured the way the README tells agents to: accessUrl, OAUTH, the OIDC token, account = connection. */
  const agent = (token: string, account = 'warehouse') => connect({ accessUrl, account, authenticator: 'OAUTH', token } as snowflake.ConnectionOptions);

  before(async () => {
    t = await startTestStack({
      keepWarehouse: true,
      configure: (config) => {
        config['policies'].unshift(
          { name: 'typed-read', groups: ['analysts', 'pii-readers'], kinds: ['select'], tables: ['typed'], decision: 'allow', role: 'reader' },
          { name: 'scratch-writes', groups: ['analysts'], kinds: ['insert', 'update', 'delete'], tables: ['scratch'], decision: 'allow', role: 'writer' },
        );
      },
    });
    accessUrl = `http://127.0.0.1:${t.ports['http']}`;
    analyst = await t.token({ subject: 'agent-sf', groups: ['analysts'] });
    reader = await t.token({ subject: 'reader-sf', groups: ['pii-readers'] });
    dba = await t.token({ subject: 'dba-sf', groups: ['dba'], audience: 'http://127.0.0.1:8081' });
    admin = await connect({
      account: demoAccount,
      accessUrl: t.warehouse!.url,
      username: demoAdminUser,
      authenticator: 'SNOWFLAKE_JWT',
      privateKey: t.warehouse!.adminPrivateKeyPem,
    } as snowflake.ConnectionOptions);
    await exec(
      admin,
      `CREATE TABLE typed (id NUMBER, amount NUMBER(10,2), ratio FLOAT, label STRING, flag BOOLEAN, day DATE, clock TIME,
        ntz TIMESTAMP_NTZ, ltz TIMESTAMP_LTZ, tz TIMESTAMP_TZ(9), doc VARIANT, bin BINARY)`,
    );
    await exec(
      admin,
      `INSERT INTO typed VALUES
        (1, 12.5, 1.5, 'héllo', TRUE, '2024-01-01', '01:02:03.5', '2024-01-02 03:04:05.123', '2024-01-02 03:04:05.123+01:00',
         '2024-01-02 03:04:05.123+01:00', PARSE_JSON('{"a":[1,2],"b":null}'), '\\x48656c6c6f'),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, -0.01, -2.25e10, 'x', FALSE, '1969-12-31', '23:59:59', '1969-12-31 23:59:59.5', '1970-01-01 00:00:00+00', '2024-06-30 12:00:00-05:30', '[]', '\\x')`,
    );
    await exec(admin, 'CREATE TABLE scratch (x INT)');
    await exec(admin, 'GRANT SELECT ON TABLE typed TO ROLE ANALYST');
    await exec(admin, 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE scratch TO ROLE WRITER');
  });
  after(async () => {
    if (admin) await destroy(admin);
    await t?.close();
  });

  it('returns every type with its exact value and the upstream rowtypes', async () => {
    const conn = await agent(analyst);
    try {
      const { rows, stmt } = await execStatement(conn, 'SELECT id, amount, ratio, label, flag, day, clock, ntz, ltz, tz, doc, bin FROM typed ORDER BY id');
      assert.equal(rows.length, 3);
      const [r1, r2, r3] = rows as [Row, Row, Row];
      assert.deepEqual(Object.keys(r1), ['ID', 'AMOUNT', 'RATIO', 'LABEL', 'FLAG', 'DAY', 'CLOCK', 'NTZ', 'LTZ', 'TZ', 'DOC', 'BIN']);
      assert.equal(r1['ID'], 1);
      assert.equal(r1['AMOUNT'], 12.5);
      assert.equal(r1['RATIO'], 1.5);
      assert.equal(r1['LABEL'], 'héllo');
      assert.equal(r1['FLAG'], true);
      assert.equal((r1['DAY'] as Date).getTime(), Date.UTC(2024, 0, 1));
      assert.equal(r1['CLOCK'], '01:02:03');
      assert.equal((r1['NTZ'] as Date).getTime(), Date.UTC(2024, 0, 2, 3, 4, 5, 123));
      assert.equal((r1['LTZ'] as Date).getTime(), Date.UTC(2024, 0, 2, 2, 4, 5, 123));
      assert.equal((r1['TZ'] as Date).getTime(), Date.UTC(2024, 0, 2, 2, 4, 5, 123));
      assert.deepEqual(r1['DOC'], { a: [1, 2], b: null });
      assert.ok(Buffer.isBuffer(r1['BIN']));
      assert.equal((r1['BIN'] as Buffer).toString('utf8'), 'Hello');
      for (const k of ['AMOUNT', 'RATIO', 'LABEL', 'FLAG', 'DAY', 'NTZ', 'LTZ', 'TZ', 'DOC', 'BIN']) assert.equal(r2[k], null, k);
      assert.equal(r3['AMOUNT'], -0.01);
      assert.equal(r3['RATIO'], -22500000000);
      assert.equal(r3['FLAG'], false);
      assert.equal((r3['DAY'] as Date).getTime(), Date.UTC(1969, 11, 31));
      assert.equal(r3['CLOCK'], '23:59:59');
      assert.equal((r3['NTZ'] as Date).getTime(), Date.UTC(1969, 11, 31, 23, 59, 59, 500));
      assert.equal((r3['LTZ'] as Date).getTime(), 0);
      assert.equal((r3['TZ'] as Date).getTime(), Date.UTC(2024, 5, 30, 17, 30));
      assert.deepEqual(r3['DOC'], []);
      assert.equal((r3['BIN'] as Buffer).length, 0);
      assert.deepEqual(
        stmt.getColumns()!.map((c) => [c.getName(), c.getType(), c.getScale() ?? null]),
        [
          ['ID', 'fixed', 0],
          ['AMOUNT', 'fixed', 2],
          ['RATIO', 'real', null],
          ['LABEL', 'text', null],
          ['FLAG', 'boolean', null],
          ['DAY', 'date', null],
          ['CLOCK', 'time', 9],
          ['NTZ', 'timestamp_ntz', 9],
          ['LTZ', 'timestamp_ltz', 9],
          ['TZ', 'timestamp_tz', 9],
          ['DOC', 'variant', null],
          ['BIN', 'binary', null],
        ],
      );
      assert.equal(stmt.getNumUpdatedRows(), -1);
      assert.match(stmt.getQueryId(), /^[0-9a-f-]{36}$/);
      assert.deepEqual(await exec(conn, 'SELECT label FROM typed WHERE id = ?', [1]), [{ LABEL: 'héllo' }]);
    } finally {
      await destroy(conn);
    }
  });

  it('answers DML with the exact row counts', async () => {
    const conn = await agent(analyst);
    try {
      const ins = await execStatement(conn, 'INSERT INTO scratch (x) VALUES (?), (?)', [7, 8]);
      assert.deepEqual(ins.rows, [{ 'number of rows inserted': 2 }]);
      assert.equal(ins.stmt.getNumUpdatedRows(), 2);
      const upd = await execStatement(conn, 'UPDATE scratch SET x = x + 1 WHERE x >= 7');
      assert.deepEqual(upd.rows, [{ 'number of rows updated': 2, 'number of multi-joined rows updated': 0 }]);
      assert.equal(upd.stmt.getNumUpdatedRows(), 2);
      const del = await execStatement(conn, 'DELETE FROM scratch WHERE x = 9');
      assert.deepEqual(del.rows, [{ 'number of rows deleted': 1 }]);
      assert.equal(del.stmt.getNumUpdatedRows(), 1);
    } finally {
      await destroy(conn);
    }
  });

  it('answers a policy denial as a Snowflake access-control error naming the rule', async () => {
    const conn = await agent(analyst);
    try {
      const e = await execError(conn, 'DROP TABLE typed');
      assert.equal(e.code, '003001');
      assert.equal(e.sqlState, '42501');
      assert.match(e.message, /^Airlock refused this statement \(rule "refuse-ddl"\): DDL and GRANT are not allowed through Airlock/);
      assert.equal(e.data?.['airlockCode'], 'policy.denied');
      // the session is still usable after a refusal
      assert.deepEqual(await exec(conn, 'SELECT id FROM typed WHERE id = 3'), [{ ID: 3 }]);
    } finally {
      await destroy(conn);
    }
  });

  it('passes an upstream SQL error through with its code and SQLSTATE', async () => {
    const conn = await agent(analyst);
    try {
      const e = await execError(conn, 'SELECT 1 / 0 AS x');
      assert.equal(e.code, '100038');
      assert.equal(e.sqlState, '22012');
      assert.equal(e.message, 'division by zero');
      assert.equal(e.data?.['airlockCode'], 'proxy.upstream_error');
    } finally {
      await destroy(conn);
    }
  });

  it('refuses a bad, expired or foreign token with Snowflake authentication-failed, at once', async () => {
    const started = Date.now();
    const attempts: Array<{ token: string; code: string }> = [
      { token: 'not-a-jwt', code: '390303' },
      { token: await t.token({ subject: 'agent-sf', groups: ['analysts'], ttlSeconds: -120 }), code: '390318' },
      { token: await t.token({ subject: 'agent-sf', groups: ['analysts'], audience: 'somebody-else' }), code: '390303' },
    ];
    for (const a of attempts) {
      await assert.rejects(agent(a.token), (err: SfError) => {
        assert.equal(err.code, a.code);
        assert.match(err.message, /^Authentication failed\./);
        return true;
      });
    }
    assert.ok(Date.now() - started < 10_000, 'refusals do not hang or retry');
    await assert.rejects(agent(analyst, 'nowhere'), (err: SfError) => {
      assert.equal(err.code, '002003');
      assert.match(err.message, /no Snowflake connection named "nowhere"/);
      return true;
    });
    await assert.rejects(agent(analyst, 'demo'), (err: SfError) => err.code === '002003');
  });

  it('masks PII for analysts and not for pii-readers', async () => {
    const c1 = customers[0]!;
    const a = await agent(analyst);
    const r = await agent(reader);
    try {
      const masked = await exec(a, 'SELECT id, email, card_number, ssn FROM customers WHERE id = 1');
      assert.equal(masked.length, 1);
      const m = masked[0]!;
      assert.deepEqual(Object.keys(m), ['ID', 'EMAIL', 'CARD_NUMBER', 'SSN']);
      assert.equal(m['ID'], 1);
      assert.equal(m['SSN'], '[REDACTED]');
      // the masking plan decides the form (the demo config asks for ***@domain and the last four digits); the front
      // door's part is that no clear value reaches the client
      for (const k of ['EMAIL', 'CARD_NUMBER']) assert.equal(typeof m[k], 'string', k);
      assert.ok(!String(m['EMAIL']).includes(c1.email.split('@')[0]!), 'the email came back in clear');
      assert.ok(!String(m['CARD_NUMBER']).includes(c1.card_number.slice(0, 6)), 'the card number came back in clear');
      const clear = await exec(r, 'SELECT id, email, card_number, ssn FROM customers WHERE id = 1');
      assert.deepEqual(clear, [{ ID: 1, EMAIL: c1.email, CARD_NUMBER: c1.card_number, SSN: c1.ssn }]);
    } finally {
      await destroy(a);
      await destroy(r);
    }
  });

  it('holds a statement for approval as a long-running query and completes it once approved', async () => {
    const conn = await agent(analyst);
    try {
      const result = execStatement(conn, 'INSERT INTO orders (id, customer_id, total, created_at) VALUES (9001, 1, 10.00, ?)', ['2024-05-01 10:00:00']);
      result.catch(() => undefined);
      const pending = await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals?state=pending`, { headers: { authorization: `Bearer ${dba}` } });
        const body = (await res.json()) as { approvals: Array<{ approvalId: string; connection: string }> };
        return body.approvals.find((x) => x.connection === 'warehouse');
      }, 20_000, 'an approval request');
      const vote = await fetch(`http://127.0.0.1:${t.ports['approval']}/v1/approvals/${pending.approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
        body: JSON.stringify({}),
      });
      assert.equal(vote.status, 200);
      const { rows, stmt } = await result;
      assert.deepEqual(rows, [{ 'number of rows inserted': 1 }]);
      assert.equal(stmt.getNumUpdatedRows(), 1);
    } finally {
      await destroy(conn);
    }
  });

  it('closes the session on destroy: the ephemeral user is dropped and the lease revoked', async () => {
    const emulator = t.warehouse!.emulator;
    const before = (await emulator.users()).map((u) => u.name);
    const conn = await agent(analyst);
    await exec(conn, 'SELECT id FROM typed WHERE id = 1');
    const during = (await emulator.users()).map((u) => u.name).filter((n) => !before.includes(n));
    assert.equal(during.length, 1, 'one ephemeral user for the session');
    await destroy(conn);
    await eventually(async () => ((await emulator.users()).some((u) => u.name === during[0]) ? undefined : true), 15_000, 'the ephemeral user dropped');
    const closed = await eventually(async () => {
      const rows = await t.auditRows("event_type = 'proxy.v1.session-closed' AND payload->>'reason' = 'client-closed'");
      return rows.length > 0 ? rows : undefined;
    });
    const sessionId = closed.at(-1)!.payload.sessionId;
    const events = await eventually(async () => {
      const rows = await t.auditRows('session_id = $1', [sessionId]);
      return rows.some((r) => r.event_type === 'credential.v1.revoked') ? rows : undefined;
    });
    const issued = events.find((e) => e.event_type === 'credential.v1.issued')!.payload;
    const revoked = events.find((e) => e.event_type === 'credential.v1.revoked')!.payload;
    assert.equal(revoked.leaseId, issued.lease.leaseId);
    assert.equal(revoked.reason, 'client-closed');
    assert.equal(events.find((e) => e.event_type === 'proxy.v1.session-opened')!.payload.frontend, 'snowflake');
  });

  it('answers a result whole in its first batch in one piece with its length, and streams a longer one', async () => {
    // the connector protocol as the driver speaks it, to see the HTTP framing of each answer
    const login = await fetch(`${accessUrl}/session/v1/login-request?requestId=${crypto.randomUUID()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/snowflake' },
      body: JSON.stringify({ data: { ACCOUNT_NAME: 'warehouse', AUTHENTICATOR: 'OAUTH', TOKEN: analyst } }),
    });
    const session = ((await login.json()) as any).data;
    const query = (sqlText: string) =>
      fetch(`${accessUrl}/queries/v1/query-request?requestId=${crypto.randomUUID()}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/snowflake', authorization: `Snowflake Token="${session.token}"` },
        body: JSON.stringify({ sqlText, asyncExec: false, sequenceId: 1, querySubmissionTime: Date.now() }),
      });
    try {
      const point = await query('SELECT id, customer_id FROM orders WHERE id = 1');
      const text = await point.text();
      assert.equal(point.headers.get('transfer-encoding'), null);
      assert.equal(point.headers.get('content-length'), String(Buffer.byteLength(text)));
      const body = JSON.parse(text);
      assert.equal(body.success, true);
      assert.deepEqual(body.data.rowset, [['1', '31']]);
      assert.equal(body.data.returned, 1);

      // more rows than one batch (1000): streamed in chunks as the client reads, never held whole
      let long = await query('SELECT a.id, b.id FROM orders a, orders b');
      // a statement still running after the front door's wait is answered in progress: the driver then polls
      for (let pending = long.headers.get('content-length') !== null && ((await long.clone().json()) as any).code === '333333'; pending; ) {
        const { getResultUrl } = ((await long.json()) as any).data;
        long = await fetch(`${accessUrl}${getResultUrl}`, { headers: { accept: 'application/snowflake', authorization: `Snowflake Token="${session.token}"` } });
        pending = long.headers.get('content-length') !== null && ((await long.clone().json()) as any).code === '333333';
      }
      assert.equal(long.headers.get('transfer-encoding'), 'chunked');
      assert.equal(long.headers.get('content-length'), null);
      const all = (await long.json()) as any;
      assert.equal(all.success, true);
      const orders = Number((await exec(admin, 'SELECT count(*) AS n FROM orders'))[0]!['N']);
      assert.equal(all.data.rowset.length, orders ** 2);
      assert.equal(all.data.returned, orders ** 2);
    } finally {
      await fetch(`${accessUrl}/session?delete=true`, { method: 'POST', headers: { authorization: `Snowflake Token="${session.token}"` } });
    }
  });

  describe('SQL API v2', () => {
    const post = (token: string | null, body: unknown, headers: Record<string, string> = { 'x-airlock-connection': 'warehouse' }) =>
      fetch(`${accessUrl}/api/v2/statements?requestId=7c1f1a52-0c1e-4f37-9d55-1b6a0e0e0e01`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify(body),
      });

    it('runs a statement and answers the ResultSet shape', async () => {
      const res = await post(analyst, { statement: 'SELECT id, flag, day, label FROM typed WHERE id IN (?, ?) ORDER BY id', bindings: { '1': { type: 'FIXED', value: '1' }, '2': { type: 'FIXED', value: '3' } } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as any;
      assert.equal(body.code, '090001');
      assert.equal(body.sqlState, '00000');
      assert.deepEqual(body.data, [
        ['1', 'true', '19723', 'héllo'],
        ['3', 'false', '-1', 'x'],
      ]);
      assert.equal(body.resultSetMetaData.numRows, 2);
      assert.equal(body.resultSetMetaData.format, 'jsonv2');
      assert.deepEqual(body.resultSetMetaData.rowType.map((c: any) => [c.name, c.type]), [['ID', 'fixed'], ['FLAG', 'boolean'], ['DAY', 'date'], ['LABEL', 'text']]);
      assert.match(body.statementHandle, /^[0-9a-f-]{36}$/);
      assert.equal(body.statementStatusUrl, `/api/v2/statements/${body.statementHandle}`);
      // the result was delivered and its session closed: the handle still has a status
      const again = await fetch(`${accessUrl}${body.statementStatusUrl}`, { headers: { authorization: `Bearer ${analyst}` } });
      assert.equal(again.status, 422);
      assert.equal(((await again.json()) as any).code, '000709');
      const stranger = await fetch(`${accessUrl}${body.statementStatusUrl}`, { headers: { authorization: `Bearer ${reader}` } });
      assert.equal(stranger.status, 404, 'another principal cannot see the handle');
    });

    it('answers DML with stats, a denial with 422 and the rule, and refuses bad requests', async () => {
      const dml = await post(analyst, { statement: 'INSERT INTO scratch (x) VALUES (1), (2), (3)' });
      assert.equal(dml.status, 200);
      const dmlBody = (await dml.json()) as any;
      assert.deepEqual(dmlBody.data, [['3']]);
      assert.deepEqual(dmlBody.stats, { numRowsInserted: 3 });
      const denied = await post(analyst, { statement: 'DROP TABLE typed' });
      assert.equal(denied.status, 422);
      const d = (await denied.json()) as any;
      assert.equal(d.code, '003001');
      assert.equal(d.sqlState, '42501');
      assert.match(d.message, /rule "refuse-ddl"/);
      const badToken = await post('nope', { statement: 'SELECT 1' });
      assert.equal(badToken.status, 401);
      assert.equal(((await badToken.json()) as any).code, '390303');
      const noToken = await post(null, { statement: 'SELECT 1' });
      assert.equal(noToken.status, 401);
      const noConnection = await post(analyst, { statement: 'SELECT 1' }, {});
      assert.equal(noConnection.status, 400);
      assert.match(((await noConnection.json()) as any).message, /x-airlock-connection/);
      const malformed = await post(analyst, { sql: 'SELECT 1' });
      assert.equal(malformed.status, 400);
    });
  });

  it('never logs a token, a key or a row value', async () => {
    const text = t.logs.text();
    assert.ok(text.includes('Snowflake login'), 'the front door logs logins');
    for (const token of [analyst, reader, dba]) assert.ok(!text.includes(token), 'an OIDC token was logged');
    assert.ok(!text.includes(t.warehouse!.adminPrivateKeyPem.split('\n')[1]!), 'the admin key was logged');
    assert.doesNotMatch(text, /airlock-(ST|MT)-|PRIVATE KEY|Snowflake Token=/);
    for (const c of customers.slice(0, 5)) {
      assert.ok(!text.includes(c.email), 'an email was logged');
      assert.ok(!text.includes(c.card_number), 'a card number was logged');
    }
    assert.ok(!text.includes('héllo'), 'a row value was logged');
  });
});
