/**
 * The Snowflake metadata and session surfaces, decided with the demo configuration: what a reader may list, describe,
 * use and set, with the role of the rule that lets it read; what stays closed whatever the rules say, and that every
 * refusal names the thing, why, and the config key that opens it where one does.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { demoConfigPath, loadConfigFile, type AirlockConfig } from '@airlock/config';
import { initParsers } from '../../src/analysis/index.js';
import { evaluate } from '../../src/evaluate.js';
import { demoCatalog } from './fixtures.js';

process.env.AIRLOCK_WAREHOUSE_ADMIN_KEY ??= 'unused-in-these-tests';
const demo = loadConfigFile(demoConfigPath);
const analyst = { subject: 'a', groups: ['analysts'], issuer: 'test' };
const stranger = { subject: 's', groups: ['nobody'], issuer: 'test' };

function decide(sql: string, principal = analyst, config: AirlockConfig = demo) {
  return evaluate({ config, principal, connection: 'warehouse', sql, catalog: demoCatalog, requestId: 'r' });
}

before(async () => {
  await initParsers();
});

describe('Snowflake metadata surface', () => {
  const open: [string, string][] = [
    ['SHOW DATABASES', 'builtin:metadata'],
    ['show terse databases', 'builtin:metadata'],
    ['SHOW SCHEMAS IN DATABASE DEMO', 'builtin:metadata'],
    ['SHOW TABLES', 'builtin:metadata'],
    ['SHOW TABLES IN SCHEMA DEMO.PUBLIC', 'builtin:metadata'],
    ["SHOW TABLES LIKE 'cust%' IN SCHEMA PUBLIC", 'builtin:metadata'],
    ['SHOW VIEWS', 'builtin:metadata'],
    ['SHOW COLUMNS IN TABLE customers', 'builtin:metadata'],
    ['SHOW WAREHOUSES', 'builtin:metadata'],
    ['SHOW PRIMARY KEYS IN TABLE customers', 'builtin:metadata'],
    ['SHOW IMPORTED KEYS IN SCHEMA PUBLIC', 'builtin:metadata'],
    ['DESCRIBE TABLE customers', 'builtin:metadata'],
    ['DESC TABLE DEMO.PUBLIC.CUSTOMERS', 'builtin:metadata'],
    ['desc customers', 'builtin:metadata'],
    ['DESCRIBE VIEW v', 'builtin:metadata'],
    ["SELECT table_name FROM information_schema.tables WHERE table_schema = 'PUBLIC'", 'builtin:metadata'],
    ["select column_name, data_type from DEMO.INFORMATION_SCHEMA.COLUMNS where table_name = 'CUSTOMERS' order by ordinal_position", 'builtin:metadata'],
    ['SELECT schema_name FROM information_schema.schemata', 'builtin:metadata'],
    ['SELECT * FROM information_schema.table_constraints', 'builtin:metadata'],
  ];
  for (const [sql, rule] of open) {
    test(`${sql} is open to a reader, with the reader's role`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', d.reason);
      assert.equal(d.rule, rule);
      assert.equal(d.scope?.role, 'ANALYST');
    });
  }

  test('a principal that may read nothing on the connection gets no metadata', () => {
    for (const sql of ['SHOW TABLES', 'DESCRIBE TABLE customers', 'SELECT table_name FROM information_schema.tables']) {
      const d = decide(sql, stranger);
      assert.equal(d.outcome, 'deny');
      assert.equal(d.code, 'policy.no_rule');
      assert.match(d.reason, /no policy lets your groups \(nobody\) read there/);
    }
  });

  const closed: [string, RegExp][] = [
    ['SHOW GRANTS', /^SHOW GRANTS is not allowed through Airlock: it lists account objects/],
    ['SHOW USERS', /^SHOW USERS is not allowed/],
    ['SHOW PARAMETERS', /^SHOW PARAMETERS is not allowed/],
    ['SHOW INTEGRATIONS', /^SHOW INTEGRATIONS is not allowed/],
    ['DESCRIBE USER airlock_admin', /^DESCRIBE USER is not allowed/],
    ['DESC STAGE s', /^DESCRIBE STAGE is not allowed/],
    ['SELECT * FROM information_schema.load_history', /^INFORMATION_SCHEMA.LOAD_HISTORY is not allowed/],
    ['SELECT * FROM information_schema.table_storage_metrics', /^INFORMATION_SCHEMA.TABLE_STORAGE_METRICS is not allowed/],
    ['SELECT t.table_name FROM information_schema.tables t JOIN information_schema.pipes p ON true', /^INFORMATION_SCHEMA.PIPES is not allowed/],
  ];
  for (const [sql, message] of closed) {
    test(`${sql} stays closed whatever the rules say`, () => {
      const everything: AirlockConfig = {
        ...demo,
        policies: [{ name: 'all', groups: ['analysts'], kinds: ['select', 'show', 'set', 'other'], decision: 'allow', role: 'reader' }, ...demo.policies],
      };
      const d = decide(sql, analyst, everything);
      assert.equal(d.outcome, 'deny');
      assert.equal(d.code, 'policy.forbidden_command');
      assert.match(d.reason, message);
      assert.match(d.reason, /stays closed whatever the policy rules say/);
    });
  }

  test('query and login history stay closed (their table functions read what Airlock cannot mask)', () => {
    for (const sql of [
      'SELECT * FROM TABLE(information_schema.query_history())',
      'SELECT query_text FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_SESSION())',
      'SELECT * FROM TABLE(information_schema.login_history())',
      'SELECT * FROM snowflake.account_usage.query_history',
      'SELECT * FROM snowflake.account_usage.login_history',
    ]) {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny', sql);
      assert.match(d.code ?? '', /^policy\.(forbidden_(function|relation|command)|parse_error)$/, sql);
    }
  });

  test('metadata mixed with a table is decided by the rules, not the surface', () => {
    const d = decide('SELECT c.email, t.table_name FROM customers c, information_schema.tables t');
    assert.notEqual(d.rule, 'builtin:metadata');
    assert.equal(d.outcome, 'deny');
  });

  test('CURRENT_* functions are read as the lease sees them', () => {
    const d = decide('SELECT CURRENT_ROLE(), CURRENT_DATABASE(), CURRENT_SCHEMA(), CURRENT_WAREHOUSE(), CURRENT_USER(), CURRENT_VERSION()');
    assert.equal(d.outcome, 'allow', d.reason);
    assert.equal(d.scope?.role, 'ANALYST');
  });
});

describe('Snowflake session surface', () => {
  for (const sql of [
    'USE WAREHOUSE DEMO_WH',
    'use database DEMO',
    'USE SCHEMA PUBLIC',
    'USE DEMO.PUBLIC',
    "ALTER SESSION SET QUERY_TAG = 'my-agent'",
    "alter session set timezone = 'Europe/Paris', timestamp_output_format = 'YYYY-MM-DD'",
    'ALTER SESSION SET WEEK_START = 1',
    'ALTER SESSION UNSET QUERY_TAG',
    'ALTER SESSION SET ROWS_PER_RESULTSET = 10',
  ]) {
    test(`${sql} is open to a reader`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', d.reason);
      assert.equal(d.rule, 'builtin:session');
      assert.equal(d.scope?.role, 'ANALYST');
    });
  }

  const refused: [string, RegExp][] = [
    ['ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE', /^the session parameter QUOTED_IDENTIFIERS_IGNORE_CASE is not allowed through Airlock: it changes how Snowflake reads a statement.*stays closed whatever/],
    ["ALTER SESSION SET QUERY_TAG = 'x', TIMESTAMP_INPUT_FORMAT = 'YYYY'", /^the session parameter TIMESTAMP_INPUT_FORMAT is not allowed.*reads a statement/],
    ['ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 86400', /^the session parameter STATEMENT_TIMEOUT_IN_SECONDS .*limits\.timeoutMs/],
    ['ALTER SESSION SET AUTOCOMMIT = FALSE', /^the session parameter AUTOCOMMIT .*transaction boundaries/],
    ["ALTER SESSION SET BINARY_OUTPUT_FORMAT = 'BASE64'", /^the session parameter BINARY_OUTPUT_FORMAT .*mask/],
    ['ALTER SESSION SET MULTI_STATEMENT_COUNT = 0', /^the session parameter MULTI_STATEMENT_COUNT /],
    ['ALTER SESSION SET SOME_FUTURE_PARAMETER = 1', /^the session parameter SOME_FUTURE_PARAMETER is not allowed.*guardrails\.allowSettings in the config/],
    ['ALTER SESSION SET "QUERY_TAG" = \'x\', ERROR_ON_NONDETERMINISTIC_MERGE = FALSE', /ERROR_ON_NONDETERMINISTIC_MERGE .*guardrails\.allowSettings/],
  ];
  for (const [sql, message] of refused) {
    test(`${sql} is refused, saying why`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny');
      assert.equal(d.code, 'policy.forbidden_command');
      assert.match(d.reason, message);
    });
  }

  test('guardrails.allowSettings opens an unlisted parameter, never a pinned one', () => {
    const config: AirlockConfig = { ...demo, guardrails: { ...demo.guardrails, allowSettings: ['error_on_nondeterministic_merge', 'quoted_identifiers_ignore_case'] } };
    assert.equal(decide('ALTER SESSION SET ERROR_ON_NONDETERMINISTIC_MERGE = FALSE', analyst, config).outcome, 'allow');
    const pinned = decide('ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE', analyst, config);
    assert.equal(pinned.outcome, 'deny');
    assert.match(pinned.reason, /changes how Snowflake reads a statement/);
  });

  test('USE DATABASE/SCHEMA may not move unqualified names away from where Airlock resolves them', () => {
    for (const sql of ['USE DATABASE OTHER', 'USE SCHEMA SALES', 'USE SCHEMA OTHER.PUBLIC', 'USE OTHER', 'USE DEMO.SALES', 'USE SCHEMA "public"']) {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny', sql);
      assert.equal(d.code, 'policy.forbidden_command', sql);
      assert.match(d.reason, /names a default other than the connection's own \(DEMO\.PUBLIC\).*Qualify table names instead; an operator can open it with connections\.warehouse\.database/, sql);
    }
  });

  test("USE ROLE of the lease's own role is accepted", () => {
    for (const sql of ['USE ROLE ANALYST', 'use role analyst', 'USE ROLE "ANALYST"']) {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', sql);
      assert.equal(d.scope?.role, 'ANALYST');
    }
  });

  test('USE ROLE of another role and USE SECONDARY ROLES are refused, naming where the role comes from', () => {
    for (const sql of ['USE ROLE ACCOUNTADMIN', 'USE SECONDARY ROLES ALL', 'USE ROLE "analyst"', 'USE ROLE WRITER', 'USE ROLE ANALYST.X']) {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny', sql);
      assert.equal(d.code, 'policy.forbidden_command', sql);
      assert.match(d.reason, /USE (SECONDARY )?ROLE/, sql);
      if (!sql.includes('SECONDARY')) assert.match(d.reason, /policies\[\]\.role/, sql);
    }
  });

  test('the session surface is closed to a principal that may read nothing there', () => {
    const d = decide("ALTER SESSION SET QUERY_TAG = 'x'", stranger);
    assert.equal(d.outcome, 'deny');
    assert.equal(d.code, 'policy.no_rule');
  });

  test('two statements in one request are still refused', () => {
    const d = decide("ALTER SESSION SET QUERY_TAG = 'x'; SELECT * FROM customers");
    assert.equal(d.outcome, 'deny');
    assert.equal(d.code, 'policy.multiple_statements');
  });
});
