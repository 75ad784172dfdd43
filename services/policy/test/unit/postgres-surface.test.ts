/**
 * The PostgreSQL metadata and session surfaces, decided with the demo configuration: what a reader may read of the
 * catalog and set in its session, with the role of the rule that lets it read; what stays closed whatever the rules
 * say; and the ways around it an agent that knows PostgreSQL would try (a data table or a masked column smuggled into a
 * catalog read, information_schema's helpers on data, EXPLAIN's estimates).
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
  return evaluate({ config, principal, connection: 'demo', sql, catalog: demoCatalog, requestId: 'r' });
}

before(async () => {
  await initParsers();
});

describe('PostgreSQL metadata surface', () => {
  const open = [
    // psql \dt, \dn, \d customers (abridged to their FROM lists and functions)
    "SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam WHERE c.relkind IN ('r','p','') AND n.nspname !~ '^pg_toast' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2",
    "SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_' ORDER BY 1",
    "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)",
    "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16390' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    'SELECT conname, pg_catalog.pg_get_constraintdef(r.oid, true) FROM pg_catalog.pg_constraint r WHERE r.conrelid = 16390',
    'SELECT stxname, stxkeys FROM pg_catalog.pg_statistic_ext WHERE stxrelid = 16390',
    // JDBC getPrimaryKeys uses information_schema's helper
    'SELECT a.attname, (i.keys).n FROM pg_catalog.pg_attribute a, (SELECT information_schema._pg_expandarray(i.indkey) AS keys FROM pg_catalog.pg_index i) i',
    // server-postgres, dbhub, SQLAlchemy
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1',
    'SELECT * FROM information_schema.key_column_usage',
    'SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace',
    'SELECT name, setting FROM pg_settings',
  ];
  for (const sql of open) {
    test(`open to a reader with the reader's role: ${sql.slice(0, 70)}`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', d.reason);
      assert.equal(d.rule, 'builtin:metadata');
      assert.equal(d.scope?.role, 'demo_reader');
      assert.deepEqual(d.masking.columns, []);
      assert.equal(d.masking.maskUnlisted, false);
    });
  }

  test('a principal that may read nothing on the connection gets no metadata', () => {
    const d = decide('SELECT relname FROM pg_class', stranger);
    assert.equal(d.outcome, 'deny');
    assert.equal(d.code, 'policy.no_rule');
    assert.match(d.reason, /open to those who may read on connection "demo"/);
  });

  const closed: [string, RegExp][] = [
    ['SELECT * FROM pg_stats', /statistics of column values/],
    ['SELECT * FROM pg_catalog.pg_statistic', /statistics of column values/],
    ['SELECT stxdmcv FROM pg_statistic_ext_data', /statistics of column values/],
    ['SELECT * FROM pg_stats_ext_exprs', /statistics of column values/],
    ['SELECT query FROM pg_stat_activity', /statement text of other sessions/],
    ['SELECT * FROM pg_largeobject', /large objects/],
    ['SELECT rolpassword FROM pg_authid', /credentials/],
    ['SELECT * FROM pg_shadow', /credentials/],
    ['SELECT * FROM pg_user_mappings', /credentials/],
    ['SELECT * FROM information_schema.user_mapping_options', /guardrails\.allowCatalogRelations/],
    ['SELECT * FROM information_schema._pg_user_mappings', /guardrails\.allowCatalogRelations/],
    ['SELECT * FROM pg_file_settings', /guardrails\.allowCatalogRelations/],
    ['SELECT * FROM pg_db_role_setting', /guardrails\.allowCatalogRelations/],
    ['SELECT * FROM pg_locks', /guardrails\.allowCatalogRelations/],
    ['SELECT * FROM pg_toast.pg_toast_16390', /guardrails\.allowCatalogRelations/],
    ['SELECT relname FROM pg_class UNION ALL SELECT query FROM pg_stat_activity', /statement text of other sessions/],
  ];
  for (const [sql, why] of closed) {
    test(`closed: ${sql}`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny');
      assert.equal(d.code, 'policy.forbidden_relation');
      assert.match(d.reason, why);
    });
  }

  test('guardrails.allowCatalogRelations opens a catalog relation, never a data-bearing one', () => {
    const config = { ...demo, guardrails: { ...demo.guardrails, allowCatalogRelations: ['pg_locks', 'pg_stats', 'pg_authid'] } } as AirlockConfig;
    assert.equal(decide('SELECT * FROM pg_locks', analyst, config).rule, 'builtin:metadata');
    assert.equal(decide('SELECT * FROM pg_stats', analyst, config).code, 'policy.forbidden_relation');
    assert.equal(decide('SELECT * FROM pg_authid', analyst, config).code, 'policy.forbidden_relation');
  });

  test('a data table in a catalog read is decided by the rules, its masked columns masked and guarded', () => {
    const mixed = decide('SELECT c.relname, x.ssn FROM pg_class c, customers x');
    assert.equal(mixed.outcome, 'allow');
    assert.equal(mixed.rule, 'analysts-read');
    // relname's lineage is exact (pg_class.relname, which no rule masks); ssn's is the masked column
    assert.deepEqual(
      mixed.masking.columns.filter((c) => c.action !== null).map((c) => c.name),
      ['ssn'],
    );
    const filtered = decide('SELECT relname FROM pg_class WHERE relname = (SELECT ssn FROM customers LIMIT 1)');
    assert.equal(filtered.code, 'policy.inference_on_masked_column');
    const subquery = decide("SELECT relname FROM pg_class WHERE EXISTS (SELECT 1 FROM customers WHERE ssn LIKE '1%')");
    assert.equal(subquery.code, 'policy.inference_on_masked_column');
    const cte = decide('WITH d AS (DELETE FROM orders RETURNING id) SELECT relname FROM pg_class, d');
    assert.notEqual(cte.rule, 'builtin:metadata');
    assert.equal(cte.outcome, 'approval-required');
    const stranger2 = decide('SELECT c.relname FROM pg_class c, orders o', stranger);
    assert.equal(stranger2.code, 'policy.no_rule');
  });

  test("information_schema's helpers run only on catalog values", () => {
    for (const sql of [
      "SELECT information_schema._pg_expandarray(string_to_array(ssn, '-')) FROM customers",
      'SELECT (information_schema._pg_expandarray(ARRAY[id])).n FROM customers',
      'SELECT information_schema._pg_char_max_length(1, 2) FROM orders',
    ]) {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny', sql);
      assert.equal(d.code, 'policy.forbidden_function', sql);
    }
    assert.equal(decide('SELECT information_schema.something_else(1) FROM pg_class').code, 'policy.forbidden_function');
  });
});

describe('PostgreSQL session surface', () => {
  for (const sql of ["SET application_name = 'agent'", 'SET extra_float_digits = 3', "SET TIME ZONE 'UTC'", 'SET DateStyle = ISO', 'RESET application_name', 'SHOW server_version', 'SHOW ALL', 'SHOW transaction isolation level', 'DISCARD ALL', 'DEALLOCATE ALL', 'DEALLOCATE p1']) {
    test(`open to a reader: ${sql}`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', d.reason);
      assert.equal(d.rule, 'builtin:session');
      assert.equal(d.scope?.role, 'demo_reader');
    });
  }

  test('not to a principal that may read nothing', () => {
    assert.equal(decide('SET application_name = x', stranger).code, 'policy.no_rule');
  });

  const refused: [string, RegExp][] = [
    ['SET search_path = evil, public', /search_path/i],
    ['SET standard_conforming_strings = off', /Airlock sets it for you/],
    ["SET statement_timeout = '1h'", /statement_timeout/i],
    ['SET ROLE postgres', /SET ROLE/],
    ['SET session_authorization = postgres', /session_authorization/i],
    ['SET work_mem = 1', /guardrails\.allowSettings/],
    ['RESET ALL', /RESET ALL/],
    ['SET LOCAL search_path = evil', /search_path/i],
    ["SELECT set_config('search_path', 'evil', false)", /set_config/],
  ];
  for (const [sql, why] of refused) {
    test(`refused: ${sql}`, () => {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny', d.reason);
      assert.match(d.reason, why);
    });
  }
});

describe('EXPLAIN is decided as the statement it explains', () => {
  test('a statement the reader may run, it may explain, when it reads no column masked for the reader', () => {
    const d = decide('EXPLAIN SELECT id, name FROM customers');
    assert.equal(d.outcome, 'allow');
    assert.equal(d.rule, 'analysts-read');
    assert.equal(decide('EXPLAIN SELECT o.total FROM orders o JOIN customers c ON c.id = o.customer_id').rule, 'analysts-read');
  });
  test("a plan's width and row estimates come from a masked column's statistics: refused", () => {
    for (const sql of ['EXPLAIN SELECT email FROM customers', 'EXPLAIN SELECT * FROM customers', 'EXPLAIN (ANALYZE, COSTS) SELECT id, ssn FROM customers', 'EXPLAIN SELECT length(card_number) FROM customers']) {
      const d = decide(sql);
      assert.equal(d.code, 'policy.inference_on_masked_column', sql);
      assert.equal(d.rule, 'guardrail:explain', sql);
    }
    const reader = { subject: 'r', groups: ['pii-readers'], issuer: 'test' };
    assert.equal(decide('EXPLAIN SELECT email FROM customers', reader).rule, 'analysts-read');
  });
  test('estimates on a masked column would reveal its statistics: refused like the statement', () => {
    assert.equal(decide("EXPLAIN SELECT id FROM customers WHERE ssn = '123-45-6789'").code, 'policy.inference_on_masked_column');
    assert.equal(decide('EXPLAIN (ANALYZE) SELECT id FROM customers ORDER BY email').code, 'policy.inference_on_masked_column');
  });
  test('EXPLAIN ANALYZE of a write runs it: it needs the approval the write needs', () => {
    const d = decide('EXPLAIN ANALYZE INSERT INTO orders (customer_id, total) VALUES (1, 2)');
    assert.equal(d.outcome, 'approval-required');
    assert.equal(d.rule, 'orders-writes-need-dba');
  });
  test('nobody explains what they may not run', () => {
    assert.equal(decide('EXPLAIN SELECT * FROM customers', stranger).code, 'policy.no_rule');
    assert.equal(decide('EXPLAIN DROP TABLE orders').outcome, 'deny');
  });
});
