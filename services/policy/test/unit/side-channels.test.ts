/**
 * Issue 13, PostgreSQL policy side: each channel around masking, decided by `evaluate` with the demo configuration
 * (plus a rule that lets the `agents` group run any statement kind, so that the guardrails, not a missing rule, decide).
 * Every case asserts the exact outcome, code and rule, and which columns come back masked and how.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { demoConfigPath, loadConfigFile, type AirlockConfig } from '@airlock/config';
import type { Principal, StatementKind } from '@airlock/contracts';
import { initParsers } from '../../src/analysis/index.js';
import { evaluate } from '../../src/evaluate.js';
import { AnalysisCache } from '../../src/analysis-cache.js';
import { demoCatalog, label } from './fixtures.js';

process.env.AIRLOCK_WAREHOUSE_ADMIN_KEY ??= 'unused-in-these-tests';
const demo = loadConfigFile(demoConfigPath);

const ALL_KINDS: StatementKind[] = ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'grant', 'transaction', 'set', 'show', 'explain', 'copy', 'call', 'utility', 'other'];

/** The demo config, with a rule that allows every kind for `agents` (no `tables:`, like the Helm chart's default) and a hash rule on notes. */
function configWith(guardrails: AirlockConfig['guardrails'] = demo.guardrails): AirlockConfig {
  return {
    ...demo,
    policies: [...demo.policies, { name: 'agents-anything', groups: ['agents'], kinds: ALL_KINDS, decision: 'allow', role: 'reader' }],
    masking: {
      ...demo.masking!,
      rules: [...(demo.masking?.rules ?? []), { name: 'customer-notes', table: 'customers', columns: ['notes'], action: 'hash', exemptGroups: ['pii-readers'] }],
    },
    guardrails,
  };
}

const config = configWith();
const agent: Principal = { subject: 'agent-1', issuer: 'https://idp.test', groups: ['agents'] };
const reader: Principal = { subject: 'reader-1', issuer: 'https://idp.test', groups: ['agents', 'pii-readers'] };

function decide(sql: string, principal: Principal = agent, cfg: AirlockConfig = config) {
  return evaluate({ config: cfg, principal, connection: 'demo', sql, catalog: demoCatalog, requestId: 'r-1' });
}

function maskedOf(d: ReturnType<typeof decide>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of d.masking.columns) {
    const l = label(c.action);
    if (l !== null) out[`${c.index}:${c.name}`] = l;
  }
  return out;
}

interface Case {
  sql: string;
  /** null: allowed */
  code: string | null;
  /** the rule that refused it, or a prefix ending in `*` */
  rule?: string;
  /** for allowed statements: `index:name` → action label of every masked column */
  masked?: Record<string, string>;
  /** for inference refusals: the clause named in the message */
  clause?: string;
}

const INF = 'policy.inference_on_masked_column';
const FN = 'policy.forbidden_function';
const CMD = 'policy.forbidden_command';
const REL = 'policy.forbidden_relation';

const channels: Record<string, Case[]> = {
  'row count': [
    { sql: 'SELECT id, (SELECT count(*) FROM generate_series(1, ascii(substr(c.ssn, 1, 1)))) FROM customers c', code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: 'SELECT count(*) FROM customers c, generate_series(1, length(c.email))', code: INF, clause: 'deciding how many rows come back from customers.email' },
    { sql: 'SELECT g FROM customers c, LATERAL generate_series(1, ascii(c.phone)) g', code: INF, clause: 'deciding how many rows come back from customers.phone' },
    { sql: 'SELECT id, (SELECT count(*) FROM (SELECT 1 FROM generate_series(1, 1000) LIMIT ascii(substr(c.ssn, 1, 1))) s) FROM customers c', code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: 'SELECT id, (SELECT count(*) FROM (SELECT 1 FROM orders OFFSET length(c.card_number)) s) FROM customers c', code: INF, clause: 'deciding how many rows come back from customers.card_number' },
    { sql: 'SELECT id, (SELECT count(*) FROM (SELECT 1 FROM orders FETCH FIRST ascii(c.ssn) ROWS ONLY) s) FROM customers c', code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: 'SELECT id, generate_series(1, ascii(ssn)) FROM customers', code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: "SELECT id, unnest(string_to_array(ssn, '-')) FROM customers", code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: "SELECT id, regexp_split_to_table(email, '@') FROM customers", code: INF, clause: 'deciding how many rows come back from customers.email' },
    { sql: "SELECT id, jsonb_array_elements(to_jsonb(string_to_array(ssn, '-'))) FROM customers", code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: "SELECT x FROM customers c, unnest(string_to_array(c.ssn, '-')) x", code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: 'SELECT count(*) FROM customers TABLESAMPLE bernoulli (length(ssn))', code: INF },
    { sql: 'SELECT id FROM customers TABLESAMPLE system (50) REPEATABLE (1)', code: null },
    { sql: 'SELECT sum(total) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM orders', code: null },
    { sql: 'SELECT c.id, count(*) OVER (ORDER BY c.id ROWS BETWEEN ascii(c.ssn) PRECEDING AND CURRENT ROW) FROM customers c', code: INF, clause: 'deciding how many rows come back from customers.ssn' },
    { sql: 'SELECT id FROM customers LIMIT 5', code: null, masked: {} },
    { sql: 'SELECT id, email FROM customers LIMIT 5 OFFSET 2', code: null, masked: { '1:email': 'email' } },
    { sql: 'SELECT g FROM generate_series(1, 3) g', code: null, masked: {} },
    { sql: "SELECT * FROM xmltable('/r' PASSING xmlparse(document (SELECT '<r>' || ssn || '</r>' FROM customers LIMIT 1)) COLUMNS v text PATH '.')", code: INF },
  ],
  'control flow': [
    { sql: "SELECT 1/(CASE WHEN substr(ssn, 1, 1) = '2' THEN 0 ELSE 1 END) FROM customers WHERE id = 1", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT CASE substr(ssn, 1, 1) WHEN '2' THEN 1 ELSE 0 END FROM customers", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT CASE WHEN email LIKE '%@example.com' THEN 'x' END FROM customers", code: INF, clause: 'branching on customers.email' },
    { sql: "SELECT count(*) FILTER (WHERE ssn LIKE '2%') FROM customers", code: INF, clause: 'filtering on customers.ssn' },
    { sql: "SELECT COALESCE(NULLIF(substr(ssn, 1, 1), '2'), 'x') FROM customers", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT NULLIF(phone, '')::text FROM customers", code: INF, clause: 'branching on customers.phone' },
    { sql: "SELECT GREATEST(card_number, '5') FROM customers", code: INF, clause: 'branching on customers.card_number' },
    { sql: "SELECT LEAST(email, 'm') FROM customers", code: INF, clause: 'branching on customers.email' },
    { sql: "SELECT (substr(ssn, 1, 1) = '2') OR (id > 0) FROM customers", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT id > 0 AND ssn = '1' FROM customers", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT NOT (ssn = '1') FROM customers", code: INF, clause: 'branching on customers.ssn' },
    { sql: "SELECT id, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND c.ssn LIKE '2%') FROM customers c", code: INF, clause: 'filtering on customers.ssn' },
    { sql: "SELECT id, (SELECT count(*) FROM orders o WHERE substr(c.ssn, 1, 1) = '2') FROM customers c", code: INF, clause: 'filtering on customers.ssn' },
    { sql: 'SELECT id, c.id IN (SELECT customer_id FROM orders o WHERE o.total > length(c.email)) FROM customers c', code: INF, clause: 'filtering on customers.email' },
    { sql: "SELECT id FROM customers c WHERE c.id = ANY (SELECT o.customer_id FROM orders o WHERE c.phone LIKE '5%')", code: INF, clause: 'filtering on customers.phone' },
    { sql: "SELECT id FROM customers WHERE ssn = ANY (ARRAY['1', '2'])", code: INF, clause: 'filtering on customers.ssn' },
    { sql: "SELECT o.id FROM orders o, LATERAL (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c.ssn < '3') x", code: INF, clause: 'filtering on customers.ssn' },
    { sql: "SELECT CASE WHEN id > 2 THEN 'a' ELSE 'b' END FROM customers", code: null, masked: {} },
    { sql: "SELECT COALESCE(notes, name) FROM customers", code: INF, clause: 'branching on customers.notes' },
    { sql: "SELECT COALESCE(name, 'n/a') FROM customers", code: null, masked: {} },
  ],
  'error occurrence and error text': [
    { sql: 'SELECT ssn::int FROM customers WHERE id = 1', code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: 'SELECT CAST(card_number AS bigint) FROM customers', code: INF, clause: 'computing something that can fail from customers.card_number' },
    { sql: 'SELECT phone::numeric FROM customers', code: INF },
    { sql: 'SELECT email::json FROM customers', code: INF },
    { sql: 'SELECT ssn::date FROM customers', code: INF },
    { sql: "SELECT to_date(ssn, 'YYYY') FROM customers", code: INF },
    { sql: "SELECT to_number(card_number, '9999') FROM customers", code: INF },
    { sql: 'SELECT 1 / ascii(ssn) FROM customers', code: INF },
    { sql: 'SELECT 100 % (ascii(ssn) - 50) FROM customers', code: INF },
    { sql: 'SELECT length(ssn) * 2147483647 FROM customers', code: INF },
    { sql: "SELECT 'x' ~ ssn FROM customers", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT 'x' LIKE email FROM customers", code: INF },
    { sql: "SELECT regexp_replace('abc', ssn, 'x') FROM customers", code: INF },
    { sql: "SELECT substr('abcdef', 1, ascii(ssn) - 50) FROM customers", code: INF },
    { sql: "SELECT jsonb_path_query('{}', ssn::jsonpath) FROM customers", code: INF },
    { sql: "SELECT jsonb_path_exists(to_jsonb(ssn), '$.a') FROM customers", code: INF },
    { sql: "SELECT format('%I', ssn) FROM customers", code: INF },
    { sql: 'SELECT convert_from(decode(ssn, $$hex$$), $$UTF8$$) FROM customers', code: INF },
    { sql: "SELECT decode(ssn, 'base64') FROM customers", code: INF },
    { sql: 'SELECT ssn::xml FROM customers', code: INF },
    { sql: "SELECT (ssn || 'x')::int FROM customers", code: INF },
    { sql: 'SELECT -length(ssn) FROM customers', code: INF },
    { sql: 'SELECT xmlparse(content ssn) FROM customers', code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: 'SELECT xmlpi(name x, email) FROM customers', code: INF },
    { sql: 'SELECT ntile(ascii(ssn)) OVER () FROM customers', code: INF },
    { sql: 'SELECT lag(id, ascii(ssn)) OVER (ORDER BY id) FROM customers', code: INF },
    { sql: 'SELECT chr(ascii(ssn) * 1000) FROM customers', code: INF },
    { sql: "SELECT 1 = ANY (string_to_array(ssn, '-')::int[]) FROM customers", code: INF },
    { sql: "SELECT repeat('x', ascii(ssn) * 1000000) FROM customers", code: INF },
    { sql: 'SELECT xmlelement(name c, email) FROM customers', code: null, masked: { '0:xmlelement': 'redact' } },
    { sql: 'SELECT ssn::text, email::varchar(40), phone::name FROM customers', code: null, masked: { '0:ssn': 'redact', '1:email': 'redact', '2:phone': 'redact' } },
    { sql: 'SELECT total::int, id / 2 FROM orders', code: null, masked: {} },
  ],
  'derived values are masked by lineage': [
    { sql: 'SELECT length(ssn) FROM customers', code: null, masked: { '0:length': 'redact' } },
    { sql: "SELECT ssn LIKE '2%' AS starts FROM customers", code: null, masked: { '0:starts': 'redact' } },
    { sql: "SELECT email ~ '^a' FROM customers", code: null, masked: { '0:?column?': 'redact' } },
    { sql: 'SELECT upper(email), lower(phone) FROM customers', code: null, masked: { '0:upper': 'redact', '1:lower': 'redact' } },
    { sql: 'SELECT substr(ssn, 1, 1) AS d FROM customers', code: null, masked: { '0:d': 'redact' } },
    { sql: "SELECT regexp_replace(card_number, '[0-9]', 'x', 'g') FROM customers", code: null, masked: { '0:regexp_replace': 'redact' } },
    { sql: "SELECT split_part(email, '@', 2) FROM customers", code: null, masked: { '0:split_part': 'redact' } },
    { sql: "SELECT jsonb_build_object('e', email) FROM customers", code: null, masked: { '0:jsonb_build_object': 'redact' } },
    { sql: 'SELECT md5(ssn), ascii(ssn) FROM customers', code: null, masked: { '0:md5': 'redact', '1:ascii': 'redact' } },
    { sql: 'SELECT count(ssn), max(length(email)) FROM customers', code: null, masked: { '0:count': 'redact', '1:max': 'redact' } },
    { sql: 'SELECT notes FROM customers', code: null, masked: { '0:notes': 'hash' } },
    { sql: 'SELECT notes AS n FROM customers', code: null, masked: { '0:n': 'hash' } },
    { sql: 'SELECT substr(notes, 1, 1) FROM customers', code: null, masked: { '0:substr': 'redact' } },
    { sql: 'SELECT upper(notes) AS notes FROM customers', code: null, masked: { '0:notes': 'redact' } },
    { sql: "SELECT notes || '' FROM customers", code: null, masked: { '0:?column?': 'redact' } },
  ],
  'grouping, ordering and distinct': [
    { sql: 'SELECT count(DISTINCT ssn) FROM customers', code: INF, clause: 'grouping by customers.ssn' },
    { sql: 'SELECT DISTINCT substr(ssn, 1, 1) FROM customers', code: INF, clause: 'grouping by customers.ssn' },
    { sql: 'SELECT DISTINCT ON (email) id FROM customers', code: INF, clause: 'grouping by customers.email' },
    { sql: 'SELECT substr(ssn, 1, 1), count(*) FROM customers GROUP BY 1', code: INF, clause: 'grouping by customers.ssn' },
    { sql: "SELECT substr(ssn, 1, 1) FROM customers WHERE id = 1 UNION SELECT '2'", code: INF, clause: 'grouping by customers.ssn' },
    { sql: "SELECT ssn FROM customers INTERSECT SELECT '123-45-6789'", code: INF, clause: 'grouping by customers.ssn' },
    { sql: "SELECT string_agg(id::text, ',' ORDER BY ssn) FROM customers", code: INF, clause: 'ordering by customers.ssn' },
    { sql: 'SELECT id, rank() OVER (PARTITION BY substr(ssn, 1, 1)) FROM customers', code: INF, clause: 'partitioning or ordering a window by customers.ssn' },
    { sql: 'SELECT id, row_number() OVER (ORDER BY email) FROM customers', code: INF },
    { sql: 'SELECT id FROM customers ORDER BY ascii(phone)', code: INF, clause: 'ordering by customers.phone' },
    { sql: 'SELECT DISTINCT name FROM customers', code: null, masked: {} },
    { sql: 'SELECT id, ssn FROM customers UNION ALL SELECT id, ssn FROM customers', code: null, masked: { '1:ssn': 'redact' } },
  ],
  'SQL in a string and other functions': [
    { sql: "SELECT word FROM ts_stat('SELECT array_to_tsvector(ARRAY[reverse(ssn)]) FROM customers')", code: FN, rule: 'guardrail:postgres:allowlist:function:ts_stat' },
    { sql: "SELECT ts_rewrite('a'::tsquery, 'SELECT ssn::tsquery, ssn::tsquery FROM customers')", code: FN, rule: 'guardrail:postgres:allowlist:function:ts_rewrite' },
    { sql: "SELECT query_to_xml('SELECT ssn FROM customers', true, false, '')", code: FN, rule: 'guardrail:postgres:function:query_to_xml*' },
    { sql: "SELECT table_to_xml('customers', true, false, '')", code: FN, rule: 'guardrail:postgres:function:table_to_xml*' },
    { sql: "SELECT cursor_to_xml('c', 1, true, false, '')", code: FN },
    { sql: "SELECT database_to_xml(true, false, '')", code: FN },
    { sql: "SELECT * FROM dblink('dbname=demo', 'SELECT ssn FROM customers') AS t(s text)", code: FN, rule: 'guardrail:postgres:function:dblink*' },
    { sql: 'SELECT public.leak(ssn) FROM customers', code: FN, rule: 'guardrail:postgres:allowlist:function:public.leak' },
    { sql: 'SELECT leak(ssn) FROM customers', code: FN, rule: 'guardrail:postgres:allowlist:function:leak' },
    { sql: 'SELECT myschema.upper(name) FROM customers', code: FN, rule: 'guardrail:postgres:allowlist:function:myschema.upper' },
    { sql: 'SELECT pg_catalog.upper(name) FROM customers', code: null, masked: {} },
    { sql: "SELECT nextval('orders_id_seq')", code: FN, rule: 'guardrail:postgres:allowlist:function:nextval' },
    { sql: "SELECT setval('orders_id_seq', 1)", code: FN },
    { sql: "SELECT currval('orders_id_seq')", code: FN, rule: 'guardrail:postgres:allowlist:function:currval' },
    { sql: 'SELECT pg_advisory_lock(1)', code: FN, rule: 'guardrail:postgres:allowlist:function:pg_advisory_lock' },
    { sql: "SELECT pg_notify('ch', ssn) FROM customers", code: FN, rule: 'guardrail:postgres:allowlist:function:pg_notify' },
    { sql: 'SELECT pg_sleep_for(\'1 second\')', code: FN },
    { sql: 'SELECT setseed(0.5)', code: FN, rule: 'guardrail:postgres:allowlist:function:setseed' },
    { sql: 'SELECT pg_stat_get_backend_activity(1)', code: FN, rule: 'guardrail:postgres:allowlist:function:pg_stat_get_backend_activity' },
    { sql: 'SELECT * FROM pg_mcv_list_items(NULL)', code: FN },
    { sql: "SELECT name OPERATOR(public.===) 'x' FROM customers", code: FN, rule: 'guardrail:postgres:allowlist:operator' },
    { sql: "SELECT name ### 'x' FROM customers", code: FN, rule: 'guardrail:postgres:allowlist:operator' },
    { sql: "SELECT name OPERATOR(pg_catalog.=) 'x' FROM customers", code: null, masked: {} },
    { sql: 'SELECT version(), current_schema(), pg_get_viewdef(0), format_type(25, NULL), pg_table_is_visible(0), has_table_privilege(\'orders\', \'select\')', code: null, masked: {} },
    { sql: 'SELECT txid_current() AS x', code: null, masked: {} },
    { sql: "SELECT upper(name), now(), date_trunc('day', created_at) FROM customers, orders", code: null, masked: {} },
  ],
  'settings': [
    { sql: 'SET standard_conforming_strings = off', code: CMD, rule: 'guardrail:postgres:allowlist:setting:standard_conforming_strings' },
    { sql: 'SET backslash_quote = on', code: CMD, rule: 'guardrail:postgres:allowlist:setting:backslash_quote' },
    { sql: 'SET escape_string_warning = off', code: CMD, rule: 'guardrail:postgres:allowlist:setting:escape_string_warning' },
    { sql: "SET client_encoding = 'SJIS'", code: CMD, rule: 'guardrail:postgres:allowlist:setting:client_encoding' },
    { sql: "SET NAMES 'GBK'", code: CMD, rule: 'guardrail:postgres:allowlist:setting:client_encoding' },
    { sql: "SET SCHEMA 'evil'", code: CMD, rule: 'guardrail:postgres:command:set search_path' },
    { sql: 'RESET standard_conforming_strings', code: CMD, rule: 'guardrail:postgres:allowlist:setting:standard_conforming_strings' },
    { sql: 'SET standard_conforming_strings = DEFAULT', code: CMD, rule: 'guardrail:postgres:allowlist:setting:standard_conforming_strings' },
    { sql: 'SET LOCAL standard_conforming_strings TO off', code: CMD },
    { sql: 'SET row_security = off', code: CMD },
    // DISCARD ALL returns to the start-up values, which hold the pinned settings: part of the session surface
    { sql: 'DISCARD ALL', code: null },
    { sql: 'SET work_mem = \'1GB\'', code: CMD, rule: 'guardrail:postgres:allowlist:setting:work_mem' },
    { sql: 'SET enable_seqscan = off', code: CMD, rule: 'guardrail:postgres:allowlist:setting:enable_seqscan' },
    { sql: "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", code: CMD, rule: 'guardrail:postgres:allowlist:setting:transaction snapshot' },
    { sql: 'ALTER ROLE CURRENT_USER SET standard_conforming_strings = off', code: CMD, rule: 'guardrail:postgres:allowlist:setting:standard_conforming_strings' },
    { sql: "ALTER DATABASE airlock_demo SET client_encoding = 'SJIS'", code: CMD, rule: 'guardrail:postgres:allowlist:setting:client_encoding' },
    { sql: "CREATE FUNCTION g() RETURNS int LANGUAGE sql SET backslash_quote = on AS 'select 1'", code: CMD, rule: 'guardrail:postgres:allowlist:setting:backslash_quote' },
    { sql: 'ALTER ROLE CURRENT_USER RESET ALL', code: CMD, rule: 'guardrail:postgres:command:reset all' },
    { sql: "SET application_name = 'agent'", code: null },
    { sql: "SET DateStyle = 'ISO, DMY'", code: null },
    { sql: "SET TIME ZONE 'UTC'", code: null },
    { sql: 'SET extra_float_digits = 3', code: null },
    { sql: 'RESET IntervalStyle', code: null },
    { sql: 'SET bytea_output = DEFAULT', code: null },
    { sql: 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', code: null },
    { sql: 'SHOW standard_conforming_strings', code: null },
  ],
  'statements': [
    // decided as the statement they prepare or declare; the proxy masks EXECUTE and FETCH with that plan
    { sql: 'PREPARE p AS SELECT ssn FROM customers', code: null },
    { sql: 'PREPARE p (text) AS SELECT id FROM customers WHERE ssn = $1', code: INF },
    { sql: 'EXECUTE p', code: null },
    { sql: "EXECUTE p('x', 1)", code: null },
    { sql: 'EXECUTE p((SELECT ssn FROM customers LIMIT 1))', code: CMD, rule: 'guardrail:postgres:named:arguments' },
    { sql: 'EXECUTE p(md5(current_user))', code: CMD, rule: 'guardrail:postgres:named:arguments' },
    { sql: 'EXPLAIN EXECUTE p', code: CMD, rule: 'guardrail:postgres:allowlist:statement:ExecuteStmt' },
    { sql: 'CREATE TABLE x AS EXECUTE p', code: CMD, rule: 'guardrail:postgres:allowlist:statement:ExecuteStmt' },
    { sql: 'DECLARE c CURSOR FOR SELECT ssn FROM customers', code: null },
    { sql: 'DECLARE c CURSOR FOR SELECT id FROM customers ORDER BY ssn', code: INF },
    { sql: 'FETCH 10 FROM c', code: null },
    { sql: 'MOVE 10 IN c', code: null },
    { sql: 'CLOSE c', code: null },
    { sql: 'CHECKPOINT', code: CMD, rule: 'guardrail:postgres:allowlist:statement:CheckPointStmt' },
    { sql: 'CALL public.exfiltrate()', code: FN, rule: 'guardrail:postgres:allowlist:function:public.exfiltrate' },
    { sql: 'DEALLOCATE ALL', code: null },
    { sql: 'CLOSE ALL', code: null },
    { sql: 'BEGIN', code: null },
    { sql: 'EXPLAIN SELECT id FROM customers', code: null },
  ],
  'expressions inside FROM items and WITH clauses': [
    // XMLTABLE's column PATH and DEFAULT are expressions: a DEFAULT of ssn returned it in clear
    { sql: "SELECT v FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH 'x' DEFAULT c.ssn) t", code: null, masked: { '0:v': 'redact' } },
    { sql: "SELECT t.* FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH 'x' DEFAULT c.email) t", code: null, masked: { '0:v': 'redact' } },
    { sql: "SELECT v FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH '''' || c.ssn || '''') t", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT v FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v int PATH 'x' DEFAULT c.phone) t", code: INF, clause: 'computing something that can fail from customers.phone' },
    { sql: "SELECT v FROM customers c, xmltable(xmlnamespaces(c.ssn AS n), '/r' PASSING xml '<r/>' COLUMNS v text PATH 'x') t", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT v, o FROM xmltable('/r' PASSING xml '<r><x>1</x></r>' COLUMNS v text PATH 'x' DEFAULT 'none', o FOR ORDINALITY) t", code: null, masked: {} },
    // SEARCH and CYCLE add columns holding the named columns' values: unseen, they shifted `*` so ssn came back in clear
    {
      sql: 'WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) SEARCH DEPTH FIRST BY s SET ord SELECT * FROM r NATURAL LEFT JOIN (SELECT NULL::record[] AS ord) z',
      code: INF,
      clause: 'joining on customers.ssn',
    },
    {
      sql: 'WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) SEARCH BREADTH FIRST BY s SET ord SELECT * FROM r',
      code: null,
      masked: { '1:s': 'redact', '2:ord': 'redact' },
    },
    { sql: 'WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) SEARCH DEPTH FIRST BY s SET ord SELECT id FROM r ORDER BY ord', code: INF, clause: 'ordering by customers.ssn' },
    {
      sql: 'WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) CYCLE s SET is_cycle USING path SELECT id FROM r',
      code: INF,
      clause: 'deciding how many rows come back from customers.ssn',
    },
    {
      sql: 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SEARCH DEPTH FIRST BY n SET ord CYCLE n SET c USING p SELECT * FROM r',
      code: null,
      masked: {},
    },
    // a regular expression and arrays whose length counts matches fail on some values
    { sql: "SELECT substring('x' FROM '[' || substr(ssn, 1, 1) || '-5]') FROM customers", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT substring('x' SIMILAR ssn ESCAPE '#') FROM customers", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: 'SELECT substring(ssn FROM 2 FOR 3), substring(email, 2) FROM customers', code: null, masked: { '0:substring': 'redact', '1:substring': 'redact' } },
    { sql: "SELECT ARRAY[string_to_array(ssn, '12'), ARRAY['a', 'b']] FROM customers", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT array_agg(regexp_split_to_array(email, 'a')) FROM customers", code: INF, clause: 'computing something that can fail from customers.email' },
    { sql: "SELECT ARRAY[array_positions(ARRAY[ssn], '1'), ARRAY[1]] FROM customers", code: INF, clause: 'computing something that can fail from customers.ssn' },
    { sql: "SELECT array_remove(ARRAY[card_number], '1') || ARRAY[ARRAY['x']] FROM customers", code: INF },
    { sql: "SELECT string_to_array(name, ' ') FROM customers", code: null, masked: {} },
    // a column referenced where the walk does not go (a type modifier here) is refused rather than left unchecked
    { sql: 'SELECT id::numeric(ssn) FROM customers', code: 'policy.parse_error' },
    { sql: "INSERT INTO orders (id, customer_id, total) VALUES (1, 1, 1) ON CONFLICT (id) WHERE total > 0 DO UPDATE SET total = excluded.total", code: null },
  ],
  'relations': [
    { sql: "SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers' AND attname = 'ssn'", code: REL, rule: 'guardrail:postgres:relation:pg_stats' },
    { sql: 'SELECT histogram_bounds FROM pg_catalog.pg_stats', code: REL, rule: 'guardrail:postgres:relation:pg_stats' },
    { sql: 'SELECT * FROM pg_stats_ext', code: REL, rule: 'guardrail:postgres:relation:pg_stats_ext' },
    { sql: 'SELECT * FROM pg_stats_ext_exprs', code: REL },
    { sql: 'SELECT stavalues1 FROM pg_statistic', code: REL, rule: 'guardrail:postgres:relation:pg_statistic' },
    { sql: 'SELECT * FROM pg_statistic_ext_data', code: REL },
    { sql: 'SELECT query FROM pg_stat_activity', code: REL, rule: 'guardrail:postgres:relation:pg_stat_activity' },
    { sql: 'SELECT query FROM public.pg_stat_statements', code: REL, rule: 'guardrail:postgres:relation:pg_stat_statements' },
    { sql: 'SELECT data FROM pg_largeobject', code: REL, rule: 'guardrail:postgres:relation:pg_largeobject' },
    { sql: 'WITH s AS (SELECT * FROM pg_stats) SELECT count(*) FROM s', code: REL },
    { sql: 'SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM pg_stats)', code: REL },
    { sql: 'SELECT * FROM secrets', code: 'policy.unknown_relation', rule: 'guardrail:unknown_relation' },
    { sql: 'SELECT c.id FROM customers c JOIN hidden.pii p ON p.id = c.id', code: 'policy.unknown_relation' },
    { sql: "SELECT (SELECT 'x' FROM nowhere LIMIT 1) FROM customers", code: 'policy.unknown_relation' },
    { sql: 'SELECT a FROM pg_temp.scratch', code: 'policy.unknown_relation' },
    { sql: 'WITH secrets AS (SELECT 1) SELECT * FROM hidden.secrets', code: 'policy.unknown_relation' },
    { sql: 'WITH w AS (SELECT id FROM orders) SELECT id FROM w', code: null },
    { sql: 'SELECT relname FROM pg_class', code: null },
  ],
};

before(async () => {
  await initParsers();
});

describe('side channels around masking (PostgreSQL, issue 13)', () => {
  const total = Object.values(channels).reduce((n, cs) => n + cs.length, 0);
  test(`the table holds at least 100 cases (${total})`, () => assert.ok(total >= 100));

  for (const [channel, cases] of Object.entries(channels)) {
    describe(channel, () => {
      for (const c of cases) {
        test(`${c.sql} → ${c.code ?? 'allowed'}`, () => {
          const d = decide(c.sql);
          assert.equal(d.code ?? null, c.code, `${d.outcome}: ${d.reason}`);
          assert.equal(d.outcome, c.code === null ? 'allow' : 'deny');
          if (c.rule !== undefined) assert.equal(d.rule, c.rule);
          if (c.code === INF) {
            assert.equal(d.rule, 'guardrail:inference');
            if (c.clause !== undefined) assert.ok(d.reason.startsWith(c.clause), d.reason);
          }
          if (c.masked !== undefined) assert.deepEqual(maskedOf(d), c.masked);
          // a principal exempt from every rule reads the same statement in clear, without inference refusals
          if (c.code === INF) assert.equal(decide(c.sql, reader).code ?? null, null);
        });
      }
    });
  }
});

describe('unknown lineage is masked with the strictest rule', () => {
  test('a column with no source at all is redacted for a principal subject to rules, clear for one exempt from all', () => {
    // t.word is no column of t: the analyser cannot say where it comes from, and no table is read at all
    const sql = "SELECT t.word, t.a FROM jsonb_to_record('{}') AS t(a int)";
    const d = decide(sql);
    assert.equal(d.outcome, 'allow');
    assert.deepEqual(maskedOf(d), { '0:word': 'redact' });
    assert.match(d.masking.columns[0].reason ?? '', /^lineage unknown: masked as strictly as rule 'customer-ssn'/);
    assert.deepEqual(maskedOf(decide(sql, reader)), {});
  });

  test('a composite expanded in the select list is every column of the row, or columns of unknown shape (all masked)', () => {
    const rowVar = decide('SELECT (c).* FROM customers c');
    assert.equal(rowVar.outcome, 'allow');
    assert.deepEqual(maskedOf(rowVar), { '2:email': 'email', '3:phone': 'partial4', '4:card_number': 'partial4', '5:ssn': 'redact', '6:notes': 'hash' });
    assert.equal(rowVar.masking.maskUnlisted, false);
    for (const sql of ['SELECT (c.*).* FROM customers c', 'SELECT (SELECT c FROM customers c LIMIT 1).*', "SELECT (jsonb_populate_record(null::customers, '{}')).*"]) {
      const d = decide(sql);
      assert.equal(d.outcome, 'allow', sql);
      assert.equal(d.masking.maskUnlisted, true, sql);
      assert.deepEqual(d.masking.columns, [], sql);
    }
  });

  test('with a null rule in force, unknown lineage is nulled', () => {
    const cfg = configWith();
    const nulling = { ...cfg, masking: { ...cfg.masking!, rules: [...cfg.masking!.rules!, { name: 'orders-total', table: 'orders', columns: ['total'], action: 'null' as const }] } };
    assert.deepEqual(maskedOf(decide("SELECT t.word FROM jsonb_to_record('{}') AS t(a int)", agent, nulling)), { '0:word': 'null' });
  });
});

describe('allow-list configuration', () => {
  test('guardrails.allowFunctions opens a function, forbiddenFunctions closes one, and the message names the key', () => {
    const refused = decide("SELECT nextval('s')");
    assert.equal(
      refused.reason,
      'the function nextval is not allowed through Airlock: it changes state outside the statement (sequences, locks, notifications, large objects) or holds the session open (class side-effects). Remove it from the statement; an operator can allow it with guardrails.allowFunctions in the config.',
    );
    assert.equal(decide("SELECT nextval('s')", agent, configWith({ allowFunctions: ['nextval'] })).outcome, 'allow');
    assert.equal(decide('SELECT public.f(1)', agent, configWith({ allowFunctions: ['public.*'] })).outcome, 'allow');
    const forbidden = decide('SELECT upper(name) FROM customers', agent, configWith({ forbiddenFunctions: ['upper'] }));
    assert.equal(forbidden.code, FN);
    const unknown = decide('SELECT public.f(1)');
    assert.match(unknown.reason, /the function public\.f is not allowed through Airlock: it is not on Airlock’s function allow-list.*guardrails\.allowFunctions/);
  });

  test('guardrails.allowSettings opens an unlisted parameter but never a pinned one', () => {
    const cfg = configWith({ allowSettings: ['work_mem', 'standard_conforming_strings'] });
    assert.equal(decide("SET work_mem = '64MB'", agent, cfg).outcome, 'allow');
    const pinned = decide('SET standard_conforming_strings = off', agent, cfg);
    assert.equal(pinned.code, CMD);
    assert.equal(
      pinned.reason,
      'changing the setting standard_conforming_strings is not allowed through Airlock: it changes how the server reads the statement text, so Airlock would check a different statement than the one that runs. Airlock sets it for you and keeps it.',
    );
    assert.match(decide("SET work_mem = '64MB'").reason, /guardrails\.allowSettings/);
  });

  test('statistics relations are refused even for a principal exempt from every masking rule', () => {
    assert.equal(decide('SELECT * FROM pg_stats', reader).code, REL);
    assert.equal(
      decide('SELECT * FROM pg_stats').reason,
      'reading pg_catalog.pg_stats is not allowed through Airlock: it holds statistics of column values (most common values, histograms), which would reveal masked data. Query the tables themselves.',
    );
  });

  test('messages never carry a constant of the statement', () => {
    for (const sql of ["SELECT * FROM secret_table_name_x WHERE a = 'hunter2'", "SET work_mem = 'hunter2'", "SELECT public.f('hunter2')", "SELECT 'hunter2'::int FROM customers WHERE ssn = 'hunter2'"]) {
      const d = decide(sql);
      assert.equal(d.outcome, 'deny');
      assert.ok(!d.reason.includes('hunter2'), d.reason);
    }
  });
});

describe('analysis budget', () => {
  test('a statement over maxStatementBytes is refused before parsing, naming the key', () => {
    const d = decide(`SELECT ${'1 + '.repeat(100)}1`, agent, configWith({ maxStatementBytes: 100 }));
    assert.equal(d.code, 'policy.statement_too_large');
    assert.equal(d.rule, 'guardrail:budget:bytes');
    assert.match(d.reason, /guardrails\.maxStatementBytes/);
    assert.equal(d.analysis, null);
  });

  test('a parse tree over maxParseNodes is refused', () => {
    const d = decide(`SELECT ${Array.from({ length: 200 }, (_, i) => `id + ${i}`).join(', ')} FROM orders`, agent, configWith({ maxParseNodes: 500 }));
    assert.equal(d.code, 'policy.statement_too_large');
    assert.equal(d.rule, 'guardrail:budget:nodes');
  });

  test('the default budget refuses a 300 KiB statement and accepts an ordinary one', () => {
    assert.equal(decide(`SELECT '${'x'.repeat(300 * 1024)}'`).code, 'policy.statement_too_large');
    assert.equal(decide('SELECT id FROM orders').outcome, 'allow');
  });

  test('decisions over the cache size are not cached; smaller ones are', () => {
    const cache = new AnalysisCache();
    const big = `SELECT id FROM orders WHERE id IN (${Array.from({ length: 4000 }, (_, i) => i).join(',')})`;
    const small = 'SELECT id FROM orders';
    const run = (sql: string, requestId: string) => evaluate({ config, principal: agent, connection: 'demo', sql, catalog: demoCatalog, requestId, cache });
    const a = run(big, 'a');
    const b = run(big, 'b');
    assert.equal(a.outcome, 'allow');
    assert.notEqual(a.analysis, b.analysis, 'a large statement is analysed afresh');
    const c = run(small, 'c');
    const e = run(small, 'e');
    assert.equal(c.analysis, e.analysis, 'a small statement comes from the cache');
  });
});
