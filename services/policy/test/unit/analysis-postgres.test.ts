import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { StatementKind } from '@airlock/contracts';
import { analyze, initParsers, inspect, SqlParseError, staticCatalog } from '../../src/analysis/index.js';
import { buildMaskingPlan } from '../../src/masking-plan.js';
import { inferenceViolation } from '../../src/guardrails.js';
import { demoCatalog, demoRules, label } from './fixtures.js';

before(async () => {
  await initParsers();
});

/** `index:name` → action label, for the columns that come back masked. */
type Masked = Record<string, string>;

interface Case {
  sql: string;
  kind: StatementKind;
  /** `table` (public, read), `table:w` (write), or `schema.table[:w]` */
  tables: string[];
  /** masked output columns for group `analysts`; every other listed column comes back clear */
  masked: Masked;
  /** output column names, when the case is about naming */
  columns?: string[];
  maskUnlisted?: boolean;
  /** the inference violation for analysts, as `clause:table.column` */
  inference?: string;
}

const ALL_CUSTOMERS: Masked = { '2:email': 'email', '3:phone': 'partial4', '4:card_number': 'partial4', '5:ssn': 'redact' };
const c = (sql: string, kind: StatementKind, tables: string[], masked: Masked, more: Partial<Case> = {}): Case => ({ sql, kind, tables, masked, ...more });

const cases: Case[] = [
  // plain columns and aliases
  c('SELECT id, name FROM customers', 'select', ['customers'], {}),
  c('SELECT email FROM customers', 'select', ['customers'], { '0:email': 'email' }),
  c('SELECT phone FROM customers', 'select', ['customers'], { '0:phone': 'partial4' }),
  c('SELECT card_number FROM customers', 'select', ['customers'], { '0:card_number': 'partial4' }),
  c('SELECT ssn FROM customers', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT ssn AS x FROM customers', 'select', ['customers'], { '0:x': 'redact' }),
  c('SELECT email AS contact FROM customers', 'select', ['customers'], { '0:contact': 'email' }),
  c('SELECT email, phone, card_number, ssn, notes FROM customers', 'select', ['customers'], {
    '0:email': 'email',
    '1:phone': 'partial4',
    '2:card_number': 'partial4',
    '3:ssn': 'redact',
  }),
  c('SELECT notes FROM customers', 'select', ['customers'], {}),
  c('SELECT email, email FROM customers', 'select', ['customers'], { '0:email': 'email', '1:email': 'email' }),
  c('SELECT c1.email, c2.ssn FROM customers c1 JOIN customers c2 ON c1.id = c2.id', 'select', ['customers'], { '0:email': 'email', '1:ssn': 'redact' }),
  // expressions, operators, functions
  c('SELECT upper(email) FROM customers', 'select', ['customers'], { '0:upper': 'redact' }),
  c("SELECT email || '' FROM customers", 'select', ['customers'], { '0:?column?': 'redact' }),
  c('SELECT lower(email) AS email FROM customers', 'select', ['customers'], { '0:email': 'redact' }),
  c('SELECT substr(card_number, 1, 12) AS card_number FROM customers', 'select', ['customers'], { '0:card_number': 'redact' }),
  c('SELECT right(phone, 4) FROM customers', 'select', ['customers'], { '0:right': 'redact' }),
  c('SELECT md5(ssn) FROM customers', 'select', ['customers'], { '0:md5': 'redact' }),
  c('SELECT name || email FROM customers', 'select', ['customers'], { '0:?column?': 'redact' }),
  c('SELECT phone || card_number AS both FROM customers', 'select', ['customers'], { '0:both': 'redact' }),
  c('SELECT id + 1, length(name) FROM customers', 'select', ['customers'], {}, { columns: ['?column?', 'length'] }),
  c('SELECT ssn LIKE $1 FROM customers', 'select', ['customers'], { '0:?column?': 'redact' }),
  // casts
  c('SELECT ssn::text FROM customers', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT email::text FROM customers', 'select', ['customers'], { '0:email': 'redact' }),
  c('SELECT CAST(ssn AS varchar) FROM customers', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT CAST(phone AS varchar(20)) AS p FROM customers', 'select', ['customers'], { '0:p': 'redact' }),
  c("SELECT '1'::int", 'select', [], {}, { columns: ['int4'] }),
  c('SELECT email COLLATE "C" FROM customers', 'select', ['customers'], { '0:email': 'email' }),
  // CASE, COALESCE and friends
  c('SELECT CASE WHEN id > 1 THEN ssn END FROM customers', 'select', ['customers'], { '0:case': 'redact' }),
  c("SELECT CASE WHEN ssn IS NULL THEN 'none' ELSE 'some' END AS has_ssn FROM customers", 'select', ['customers'], { '0:has_ssn': 'redact' }, { inference: 'condition:customers.ssn' }),
  c('SELECT CASE WHEN id > 1 THEN name ELSE email END FROM customers', 'select', ['customers'], { '0:email': 'redact' }),
  c("SELECT COALESCE(phone, 'n/a') FROM customers", 'select', ['customers'], { '0:coalesce': 'redact' }, { inference: 'condition:customers.phone' }),
  c("SELECT NULLIF(card_number, '') FROM customers", 'select', ['customers'], { '0:nullif': 'redact' }, { inference: 'condition:customers.card_number' }),
  c('SELECT GREATEST(email, name) FROM customers', 'select', ['customers'], { '0:greatest': 'redact' }, { inference: 'condition:customers.email' }),
  // aggregates
  c('SELECT count(ssn) FROM customers', 'select', ['customers'], { '0:count': 'redact' }),
  c('SELECT count(*) FROM customers', 'select', ['customers'], {}),
  c('SELECT max(email) FROM customers', 'select', ['customers'], { '0:max': 'redact' }),
  c("SELECT string_agg(ssn, ',') FROM customers", 'select', ['customers'], { '0:string_agg': 'redact' }),
  c('SELECT array_agg(card_number) FROM customers', 'select', ['customers'], { '0:array_agg': 'redact' }),
  c('SELECT customer_id, sum(total) FROM orders GROUP BY customer_id', 'select', ['orders'], {}),
  // row and JSON constructors, whole-row references
  c('SELECT row_to_json(c) FROM customers c', 'select', ['customers'], { '0:row_to_json': 'redact' }),
  c('SELECT json_agg(c) FROM customers c', 'select', ['customers'], { '0:json_agg': 'redact' }),
  c('SELECT to_jsonb(c.*) FROM customers c', 'select', ['customers'], { '0:to_jsonb': 'redact' }),
  c('SELECT to_json(c) FROM customers AS c', 'select', ['customers'], { '0:to_json': 'redact' }),
  c('SELECT jsonb_agg(c) FROM customers c', 'select', ['customers'], { '0:jsonb_agg': 'redact' }),
  c('SELECT row_to_json(customers) FROM customers', 'select', ['customers'], { '0:row_to_json': 'redact' }),
  c("SELECT json_build_object('e', email) FROM customers", 'select', ['customers'], { '0:json_build_object': 'redact' }),
  c("SELECT json_build_object('id', id, 'name', name) FROM customers", 'select', ['customers'], {}),
  c('SELECT ROW(id, phone) FROM customers', 'select', ['customers'], { '0:row': 'redact' }),
  c('SELECT c FROM customers c', 'select', ['customers'], { '0:c': 'redact' }),
  c('SELECT row_to_json(o) FROM orders o', 'select', ['orders'], {}),
  c('SELECT (c).email FROM customers c', 'select', ['customers'], { '0:email': 'email' }),
  c('SELECT ARRAY[email, name] FROM customers', 'select', ['customers'], { '0:array': 'redact' }),
  // identifiers: quoting and case
  c('SELECT "SSN" FROM customers', 'select', ['customers'], { '0:SSN': 'redact' }),
  c('SELECT "ssn" FROM customers', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT CUSTOMERS.Email FROM Customers', 'select', ['customers'], { '0:email': 'email' }),
  c('SELECT "customers"."email" FROM "customers"', 'select', ['customers'], { '0:email': 'email' }),
  c('SELECT c.EMAIL AS "Mail" FROM customers c', 'select', ['customers'], { '0:Mail': 'email' }),
  c('SELECT public.customers.phone FROM public.customers', 'select', ['customers'], { '0:phone': 'partial4' }),
  c('SELECT * FROM "Customers"', 'select', ['Customers'], {}, { maskUnlisted: true, columns: ['*'] }),
  // stars
  c('SELECT * FROM customers', 'select', ['customers'], ALL_CUSTOMERS, { columns: ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'] }),
  c('SELECT t.* FROM customers t', 'select', ['customers'], ALL_CUSTOMERS),
  c('TABLE customers', 'select', ['customers'], ALL_CUSTOMERS),
  c('SELECT * FROM customers WHERE id = 5', 'select', ['customers'], ALL_CUSTOMERS),
  c('SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id', 'select', ['orders', 'customers'], {}),
  c('SELECT c.*, o.total FROM customers c JOIN orders o ON o.customer_id = c.id', 'select', ['customers', 'orders'], ALL_CUSTOMERS),
  c('SELECT name, c.* FROM customers c', 'select', ['customers'], { '3:email': 'email', '4:phone': 'partial4', '5:card_number': 'partial4', '6:ssn': 'redact' }),
  // joins
  c('SELECT * FROM customers JOIN orders USING (id)', 'select', ['customers', 'orders'], ALL_CUSTOMERS, {
    columns: ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes', 'customer_id', 'total', 'created_at'],
  }),
  c('SELECT * FROM customers NATURAL JOIN orders', 'select', ['customers', 'orders'], ALL_CUSTOMERS),
  c('SELECT * FROM customers c FULL JOIN orders o USING (id)', 'select', ['customers', 'orders'], ALL_CUSTOMERS),
  c('SELECT email FROM customers JOIN orders ON orders.customer_id = customers.id', 'select', ['customers', 'orders'], { '0:email': 'email' }),
  c('SELECT c.id, o.total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id', 'select', ['customers', 'orders'], {}),
  c('SELECT a.email FROM (customers a JOIN orders b ON a.id = b.customer_id)', 'select', ['customers', 'orders'], { '0:email': 'email' }),
  c('SELECT j.email FROM (customers JOIN orders ON customers.id = orders.customer_id) AS j', 'select', ['customers', 'orders'], { '0:email': 'email' }),
  c('SELECT name, total FROM customers, orders WHERE customers.id = orders.customer_id', 'select', ['customers', 'orders'], {}),
  c('SELECT id FROM customers c JOIN orders o USING (id) WHERE o.total > 10', 'select', ['customers', 'orders'], {}),
  // lateral
  c('SELECT x.ssn FROM orders o, LATERAL (SELECT c.ssn FROM customers c WHERE c.id = o.customer_id) x', 'select', ['orders', 'customers'], { '0:ssn': 'redact' }),
  c('SELECT s.v FROM customers c CROSS JOIN LATERAL (SELECT c.email AS v) s', 'select', ['customers'], { '0:v': 'email' }),
  c('SELECT s.* FROM customers c JOIN LATERAL (SELECT c.phone, c.id) s ON true', 'select', ['customers'], { '0:phone': 'partial4' }),
  // derived tables
  c('SELECT d.e FROM (SELECT email AS e FROM customers) d', 'select', ['customers'], { '0:e': 'email' }),
  c('SELECT d.* FROM (SELECT id, ssn FROM customers) AS d', 'select', ['customers'], { '1:ssn': 'redact' }),
  c('SELECT d.a, d.b FROM (SELECT id, phone FROM customers) AS d(a, b)', 'select', ['customers'], { '1:b': 'partial4' }),
  c('SELECT z.x FROM customers AS z(i, n, x)', 'select', ['customers'], { '0:x': 'email' }),
  c('SELECT upper(d.e) FROM (SELECT email AS e FROM customers) d', 'select', ['customers'], { '0:upper': 'redact' }),
  // scalar and other subqueries
  c('SELECT (SELECT ssn FROM customers LIMIT 1)', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT (SELECT email FROM customers LIMIT 1) AS e', 'select', ['customers'], { '0:e': 'email' }),
  c('SELECT (SELECT ssn FROM customers c2 WHERE c2.id = c.id) FROM customers c', 'select', ['customers'], { '0:ssn': 'redact' }),
  c('SELECT (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n, c.phone FROM customers c', 'select', ['orders', 'customers'], {
    '1:phone': 'partial4',
  }),
  c('SELECT ARRAY(SELECT email FROM customers)', 'select', ['customers'], { '0:array': 'redact' }),
  c('SELECT email FROM customers WHERE id IN (SELECT customer_id FROM orders)', 'select', ['customers', 'orders'], { '0:email': 'email' }),
  c('SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE orders.customer_id = customers.id)', 'select', ['customers', 'orders'], {}),
  // CTEs
  c('WITH c AS (SELECT * FROM customers) SELECT c.card_number FROM c', 'select', ['customers'], { '0:card_number': 'partial4' }),
  c('WITH c AS (SELECT email AS e FROM customers) SELECT upper(e) FROM c', 'select', ['customers'], { '0:upper': 'redact' }),
  c('WITH c (a, b) AS (SELECT id, ssn FROM customers) SELECT b FROM c', 'select', ['customers'], { '0:b': 'redact' }),
  c('WITH a AS (SELECT id, phone FROM customers), b AS (SELECT * FROM a) SELECT * FROM b', 'select', ['customers'], { '1:phone': 'partial4' }),
  c(
    'WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 3) SELECT n, s FROM r',
    'select',
    ['customers'],
    { '1:s': 'redact' },
  ),
  c(
    'WITH RECURSIVE r(id, v) AS (SELECT id, name FROM customers UNION ALL SELECT c.id, c.email FROM r JOIN customers c ON c.id = r.id + 1) SELECT v FROM r',
    'select',
    ['customers'],
    { '0:v': 'email' },
  ),
  // set operations
  c("SELECT email FROM customers UNION SELECT 'x'", 'select', ['customers'], { '0:email': 'email' }, { inference: 'group:customers.email' }),
  c('SELECT email FROM customers UNION SELECT phone FROM customers', 'select', ['customers'], { '0:email': 'redact' }, { inference: 'group:customers.email' }),
  c('SELECT name FROM customers UNION ALL SELECT ssn FROM customers', 'select', ['customers'], { '0:name': 'redact' }),
  c('SELECT id, name FROM customers INTERSECT SELECT id, card_number FROM customers', 'select', ['customers'], { '1:name': 'partial4' }, { inference: 'group:customers.card_number' }),
  c('SELECT email FROM customers EXCEPT SELECT email FROM customers WHERE id > 10', 'select', ['customers'], { '0:email': 'email' }, { inference: 'group:customers.email' }),
  c("SELECT 'x' AS a UNION SELECT email FROM customers", 'select', ['customers'], { '0:a': 'email' }, { inference: 'group:customers.email' }),
  // window functions
  c('SELECT id, row_number() OVER (ORDER BY id) FROM customers', 'select', ['customers'], {}),
  c('SELECT first_value(email) OVER (PARTITION BY name ORDER BY id) FROM customers', 'select', ['customers'], { '0:first_value': 'redact' }),
  c('SELECT id, lag(phone) OVER w FROM customers WINDOW w AS (ORDER BY id)', 'select', ['customers'], { '1:lag': 'redact' }),
  // set-returning and other functions in FROM
  c('SELECT g FROM generate_series(1, 3) g', 'select', [], {}),
  c('SELECT * FROM generate_series(1, 3) WITH ORDINALITY AS g(a, b)', 'select', [], {}, { columns: ['a', 'b'] }),
  c('SELECT e FROM unnest(ARRAY(SELECT email FROM customers)) AS e', 'select', ['customers'], { '0:e': 'redact' }, { inference: 'rows:customers.email' }),
  c('SELECT x.* FROM json_to_record(\'{"a":1}\') AS x(a int, b text)', 'select', [], {}, { columns: ['a', 'b'] }),
  c('SELECT * FROM my_func()', 'select', [], {}, { maskUnlisted: true, columns: ['*'] }),
  c('SELECT key, value FROM customers c, json_each(row_to_json(c))', 'select', ['customers'], { '0:key': 'redact', '1:value': 'redact' }, { inference: 'rows:customers.email' }),
  // constants and system values
  c('SELECT 1', 'select', [], {}, { columns: ['?column?'] }),
  c('SELECT now(), current_user, 1 AS one', 'select', [], {}, { columns: ['now', 'current_user', 'one'] }),
  c("VALUES (1, 'a')", 'select', [], {}, { columns: ['column1', 'column2'] }),
  c('SELECT id FROM customers WHERE id = $1', 'select', ['customers'], {}),
  // tables the catalogue does not know
  c('SELECT * FROM pg_catalog.pg_roles', 'select', ['pg_catalog.pg_roles'], {}, { maskUnlisted: true }),
  c('SELECT * FROM pg_roles', 'select', ['pg_catalog.pg_roles'], {}, { maskUnlisted: true }),
  c('SELECT * FROM unknown_table', 'select', ['unknown_table'], {}, { maskUnlisted: true, columns: ['*'] }),
  c('SELECT u.*, c.email FROM unknown_table u, customers c', 'select', ['unknown_table', 'customers'], {}, { maskUnlisted: true, columns: ['*', 'email'] }),
  c('SELECT c.email, u.* FROM customers c, unknown_table u', 'select', ['customers', 'unknown_table'], { '0:email': 'email' }, { maskUnlisted: true }),
  c('SELECT ssn FROM unknown_table', 'select', ['unknown_table'], {}),
  c('SELECT x FROM customers, unknown_table', 'select', ['customers', 'unknown_table'], {}),
  c('SELECT * FROM (SELECT * FROM unknown_table) s', 'select', ['unknown_table'], {}, { maskUnlisted: true, columns: ['*'] }),
  // inference: masked columns outside the select list
  c("SELECT id FROM customers WHERE ssn LIKE '123%'", 'select', ['customers'], {}, { inference: 'where:customers.ssn' }),
  c('SELECT id FROM customers ORDER BY email', 'select', ['customers'], {}, { inference: 'order:customers.email' }),
  c('SELECT card_number, count(*) FROM customers GROUP BY card_number', 'select', ['customers'], { '0:card_number': 'partial4' }, { inference: 'group:customers.card_number' }),
  c('SELECT o.id FROM orders o JOIN customers c ON c.email = o.customer_id::text', 'select', ['orders', 'customers'], {}, { inference: 'join:customers.email' }),
  c("SELECT name FROM customers GROUP BY name HAVING max(ssn) > '5'", 'select', ['customers'], {}, { inference: 'having:customers.ssn' }),
  c('SELECT id, email FROM customers ORDER BY 2', 'select', ['customers'], { '1:email': 'email' }, { inference: 'order:customers.email' }),
  c('SELECT id, phone AS p FROM customers ORDER BY p', 'select', ['customers'], { '1:p': 'partial4' }, { inference: 'order:customers.phone' }),
  c('SELECT email FROM customers GROUP BY 1', 'select', ['customers'], { '0:email': 'email' }, { inference: 'group:customers.email' }),
  c("SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE ssn = '000-00-0000')", 'select', ['orders', 'customers'], {}, {
    inference: 'where:customers.ssn',
  }),
  c('SELECT DISTINCT ON (email) id FROM customers', 'select', ['customers'], {}, { inference: 'group:customers.email' }),
  c("SELECT * FROM (SELECT id, ssn FROM customers) s WHERE s.ssn = '1'", 'select', ['customers'], { '1:ssn': 'redact' }, { inference: 'where:customers.ssn' }),
  c("WITH x AS (SELECT id FROM customers WHERE card_number LIKE '4%') SELECT * FROM x", 'select', ['customers'], {}, { inference: 'where:customers.card_number' }),
  c("SELECT id FROM customers WHERE upper(email) = 'A@B.C'", 'select', ['customers'], {}, { inference: 'where:customers.email' }),
  c("SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c.phone LIKE '+1%')", 'select', ['orders', 'customers'], {}, {
    inference: 'where:customers.phone',
  }),
  c('SELECT count(*) FILTER (WHERE ssn IS NOT NULL) FROM customers', 'select', ['customers'], {}, { inference: 'where:customers.ssn' }),
  c("SELECT string_agg(name, ',' ORDER BY email) FROM customers", 'select', ['customers'], {}, { inference: 'order:customers.email' }),
  c('SELECT rank() OVER (ORDER BY ssn) FROM customers', 'select', ['customers'], {}, { inference: 'window:customers.ssn' }),
  c('SELECT count(*) OVER (PARTITION BY card_number) FROM customers', 'select', ['customers'], {}, { inference: 'window:customers.card_number' }),
  c('SELECT e FROM (SELECT email AS e FROM customers) d ORDER BY e', 'select', ['customers'], { '0:e': 'email' }, { inference: 'order:customers.email' }),
  c('SELECT id FROM customers ORDER BY id', 'select', ['customers'], {}),
  c("UPDATE customers SET notes = 'x' WHERE ssn = '1'", 'update', ['customers:w'], {}, { inference: 'where:customers.ssn' }),
  // data-modifying statements and RETURNING
  c('INSERT INTO orders (customer_id, total) VALUES (1, 10)', 'insert', ['orders:w'], {}),
  c("INSERT INTO customers (name, email) VALUES ('a', 'b') RETURNING email", 'insert', ['customers:w'], { '0:email': 'email' }),
  c("INSERT INTO customers AS c (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING c.ssn", 'insert', ['customers:w'], {
    '0:ssn': 'redact',
  }),
  c("UPDATE customers SET name = 'x' WHERE id = 1 RETURNING *", 'update', ['customers:w'], ALL_CUSTOMERS),
  c('UPDATE orders SET total = 0 WHERE id = 1 RETURNING id, total', 'update', ['orders:w'], {}),
  c('UPDATE orders o SET total = o.total + 1 FROM customers c WHERE c.id = o.customer_id RETURNING c.card_number', 'update', ['orders:w', 'customers'], {
    '0:card_number': 'partial4',
  }),
  c('DELETE FROM orders WHERE id = 1', 'delete', ['orders:w'], {}),
  c('DELETE FROM customers c USING orders o WHERE o.customer_id = c.id RETURNING c.phone', 'delete', ['customers:w', 'orders'], { '0:phone': 'partial4' }),
  c('MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN UPDATE SET total = 0', 'merge', ['orders:w', 'customers'], {}),
  c('WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d', 'delete', ['orders:w'], {}),
  c("WITH d AS (UPDATE customers SET name = 'x' WHERE id = 1 RETURNING email) SELECT email FROM d", 'update', ['customers:w'], { '0:email': 'email' }),
  c("INSERT INTO orders (customer_id, total) SELECT id, 1 FROM customers WHERE email LIKE '%@x.com'", 'insert', ['orders:w', 'customers'], {}, {
    inference: 'where:customers.email',
  }),
  // DDL and other kinds
  c('SELECT * INTO tmp_customers FROM customers', 'ddl', ['customers', 'tmp_customers:w'], {}, { columns: [] }),
  c('CREATE TABLE t AS SELECT ssn FROM customers', 'ddl', ['customers', 't:w'], {}, { columns: [] }),
  c('DROP TABLE orders', 'ddl', ['orders:w'], {}),
  c('ALTER TABLE customers ADD COLUMN x int', 'ddl', ['customers:w'], {}),
  c('TRUNCATE orders', 'ddl', ['orders:w'], {}),
  c('CREATE INDEX ON orders (total)', 'ddl', ['orders:w'], {}),
  c('GRANT SELECT ON customers TO bob', 'grant', ['customers:w'], {}),
  c('GRANT pii_role TO bob', 'grant', [], {}),
  c('BEGIN', 'transaction', [], {}),
  c('COMMIT', 'transaction', [], {}),
  c('SET statement_timeout = 0', 'set', [], {}),
  c('SHOW search_path', 'show', [], {}),
  c('EXPLAIN SELECT * FROM customers', 'explain', ['customers'], {}, { columns: ['QUERY PLAN'] }),
  c('EXPLAIN ANALYZE DELETE FROM orders', 'delete', ['orders:w'], {}),
  c('COPY orders TO STDOUT', 'copy', ['orders'], {}),
  c('COPY (SELECT email FROM customers) TO STDOUT', 'copy', ['customers'], { '0:email': 'email' }),
  c('COPY orders FROM STDIN', 'copy', ['orders:w'], {}, { columns: [] }),
  c('CALL refresh_stats()', 'call', [], {}),
  c('DO $$ BEGIN NULL; END $$', 'call', [], {}),
  c('VACUUM orders', 'utility', ['orders:w'], {}),
  c('LISTEN events', 'utility', [], {}),
];

function tableLabel(t: { schema: string; table: string; access: string }): string {
  const name = t.schema === 'public' ? t.table : `${t.schema}.${t.table}`;
  return t.access === 'write' ? `${name}:w` : name;
}

describe('PostgreSQL analysis and masking, statement by statement', () => {
  test('the table has enough statements', () => {
    assert.ok(cases.length >= 110, `only ${cases.length} cases`);
  });

  for (const k of cases) {
    test(k.sql, () => {
      const result = inspect(k.sql, 'postgres', demoCatalog);
      const a = result.analysis;
      assert.equal(a.kind, k.kind, 'kind');
      assert.equal(a.statementCount, 1);
      assert.deepEqual(a.tables.map(tableLabel).sort(), [...k.tables].sort(), 'tables');
      if (k.columns !== undefined) assert.deepEqual(a.outputColumns.map((o) => o.name), k.columns, 'output names');

      const forAnalysts = buildMaskingPlan({ analysis: a, connection: 'demo', groups: ['analysts'], rules: demoRules, detectors: [], direct: result.direct });
      const masked: Masked = {};
      for (const col of forAnalysts.plan.columns) {
        const l = label(col.action);
        if (l !== null) masked[`${col.index}:${col.name}`] = l;
      }
      assert.deepEqual(masked, k.masked, 'masked columns for analysts');
      assert.equal(forAnalysts.plan.maskUnlisted, k.maskUnlisted ?? false, 'maskUnlisted');
      const v = inferenceViolation(a, forAnalysts.maskedSources);
      const got = v === null ? undefined : a.usages.find((u) => forAnalysts.maskedSources.some((m) => m.table === u.column.table && m.column === u.column.column));
      assert.equal(got === undefined ? undefined : `${got.clause}:${got.column.table}.${got.column.column}`, k.inference, 'inference for analysts');

      const forReaders = buildMaskingPlan({ analysis: a, connection: 'demo', groups: ['pii-readers'], rules: demoRules, detectors: [], direct: result.direct });
      assert.deepEqual(forReaders.plan.columns.filter((col) => col.action !== null), [], 'pii-readers see clear values');
      assert.equal(forReaders.plan.maskUnlisted, k.maskUnlisted ?? false);
      assert.deepEqual(forReaders.maskedSources, []);
      assert.equal(inferenceViolation(a, forReaders.maskedSources), null);
    });
  }
});

describe('PostgreSQL analysis details', () => {
  test('several statements: count and every kind', () => {
    const a = analyze('BEGIN; DELETE FROM orders WHERE id = 1; COMMIT;', 'postgres', demoCatalog);
    assert.equal(a.statementCount, 3);
    assert.equal(a.kind, 'transaction');
    assert.deepEqual(a.kinds, ['transaction', 'delete', 'transaction']);
    assert.deepEqual(a.tables, [{ schema: 'public', table: 'orders', access: 'write' }]);
  });

  test('the fingerprint ignores spacing and keyword case but not constants', () => {
    const one = analyze('SELECT id FROM customers WHERE id = 5', 'postgres', demoCatalog);
    const spaced = analyze('  select   id\n  from customers  where id=5 ;', 'postgres', demoCatalog);
    const other = analyze('SELECT id FROM customers WHERE id = 6', 'postgres', demoCatalog);
    assert.match(one.fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(spaced.fingerprint, one.fingerprint);
    assert.notEqual(other.fingerprint, one.fingerprint);
    assert.equal(spaced.normalized, 'select   id\n  from customers  where id=5');
  });

  test('functions are listed lower case, qualified as written, also from subqueries', () => {
    const a = analyze("SELECT pg_catalog.PG_READ_FILE('x'), (SELECT lo_import('/etc/passwd')) FROM customers WHERE upper(name) = 'A'", 'postgres', demoCatalog);
    assert.deepEqual(a.functions, ['pg_catalog.pg_read_file', 'lo_import', 'upper']);
  });

  test('usages resolve ORDER BY position and aliases to base columns', () => {
    const a = analyze('SELECT d.e AS mail, id FROM (SELECT email AS e, id FROM customers WHERE phone IS NOT NULL) d ORDER BY 1, id', 'postgres', demoCatalog);
    assert.deepEqual(a.usages, [
      { clause: 'where', column: { schema: 'public', table: 'customers', column: 'phone' } },
      { clause: 'order', column: { schema: 'public', table: 'customers', column: 'email' } },
      { clause: 'order', column: { schema: 'public', table: 'customers', column: 'id' } },
    ]);
  });

  test('an unresolvable reference is inexact and sourced from every column read', () => {
    const a = analyze('SELECT nosuch FROM orders', 'postgres', demoCatalog);
    assert.deepEqual(a.outputColumns, [
      {
        name: 'nosuch',
        exact: false,
        sources: ['id', 'customer_id', 'total', 'created_at'].map((column) => ({ schema: 'public', table: 'orders', column })),
      },
    ]);
  });

  test('star over an unknown table is one inexact column named *', () => {
    const a = analyze('SELECT * FROM audit.events', 'postgres', demoCatalog);
    assert.deepEqual(a.outputColumns, [{ name: '*', exact: false, sources: [{ schema: 'audit', table: 'events', column: '*' }] }]);
  });

  test('the search path decides the schema of unqualified tables', () => {
    const catalog = staticCatalog({ 'sales.orders': ['id', 'amount'] }, ['sales', 'public']);
    const a = analyze('SELECT amount FROM orders', 'postgres', catalog);
    assert.deepEqual(a.tables, [{ schema: 'sales', table: 'orders', access: 'read' }]);
    assert.deepEqual(a.outputColumns[0].sources, [{ schema: 'sales', table: 'orders', column: 'amount' }]);
    assert.deepEqual(analyze('SELECT 1 FROM nothere', 'postgres', catalog).tables, [{ schema: 'sales', table: 'nothere', access: 'read' }]);
  });

  test('written values are traced to their sources', () => {
    const r = inspect('INSERT INTO orders (id, total) SELECT id, length(ssn) FROM customers', 'postgres', demoCatalog);
    assert.deepEqual(
      r.writtenSources.map((s) => s.column),
      ['id', 'ssn'],
    );
  });

  test('a parse error throws SqlParseError with the position', () => {
    assert.throws(
      () => analyze('SELEC id FROM customers', 'postgres', demoCatalog),
      (err: unknown) => err instanceof SqlParseError && err.message === 'syntax error at or near "SELEC"' && err.position === 0,
    );
    assert.throws(
      () => analyze('SELECT id FROM customers WHERE', 'postgres', demoCatalog),
      (err: unknown) => err instanceof SqlParseError && err.message === 'syntax error at end of input' && err.position === 30,
    );
    assert.throws(() => analyze('   ', 'postgres', demoCatalog), SqlParseError);
    // the token the parser stopped at is not repeated when it is a constant: it could be a secret
    assert.throws(
      () => analyze("SELECT id FROM customers WHERE ssn = '123-45-6789' '1'", 'postgres', demoCatalog),
      (err: unknown) => err instanceof SqlParseError && err.message === 'syntax error at or near a constant' && !err.message.includes('123'),
    );
  });
});

describe('what a transaction-control statement does', () => {
  const cases: Array<[string, string | undefined]> = [
    ['BEGIN', 'begin'],
    ['START TRANSACTION READ ONLY', 'begin'],
    ['begin isolation level serializable', 'begin'],
    ['COMMIT', 'commit'],
    ['END', 'commit'],
    ['COMMIT AND CHAIN', 'commit'],
    ['ROLLBACK', 'rollback'],
    ['ABORT', 'rollback'],
    ['SAVEPOINT a', 'savepoint'],
    ['RELEASE SAVEPOINT a', 'savepoint'],
    ['ROLLBACK TO SAVEPOINT a', 'savepoint'],
    ['rollback to a', 'savepoint'],
    ["PREPARE TRANSACTION 'x'", 'prepared'],
    ["COMMIT PREPARED 'x'", 'prepared'],
    ["ROLLBACK PREPARED 'x'", 'prepared'],
    ['BEGIN; DELETE FROM orders WHERE id = 1; COMMIT;', 'begin'],
    ['SELECT id FROM orders', undefined],
    ['DELETE FROM orders WHERE id = 1; COMMIT', undefined],
  ];
  for (const [sql, transaction] of cases) {
    test(sql, () => assert.equal(analyze(sql, 'postgres', demoCatalog).transaction, transaction));
  }
  // AND CHAIN starts the next transaction at once: the proxy must stay inside one
  for (const [sql, chain] of [
    ['COMMIT AND CHAIN', true],
    ['rollback and chain', true],
    ['END AND CHAIN', true],
    ['COMMIT AND NO CHAIN', undefined],
    ['COMMIT', undefined],
    ['ROLLBACK TO SAVEPOINT a', undefined],
  ] as const) {
    test(`${sql}: chain ${String(chain)}`, () => assert.equal(analyze(sql, 'postgres', demoCatalog).chain, chain));
  }
});
