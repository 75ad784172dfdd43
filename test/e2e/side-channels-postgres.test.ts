// The PostgreSQL side channels around masking, end to end: each statement goes through the PostgreSQL front door with
// the real `pg` client against the demo data, under a rule that lets the principal run any statement kind on any
// table (no `tables:`, like the Helm chart's default) plus a `hash` rule on `customers.notes`, so that the
// allow-lists and guardrails decide, never a missing rule. Each case asserts the exact refusal code (from the audit
// log) or which columns come back redacted, and that no clear value of the demo reaches the rows, the error or any
// stored audit event. Threat model: docs/threat-model.md.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { demoCustomers } from '@airlock/cli';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

const KINDS = ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'grant', 'transaction', 'set', 'show', 'explain', 'copy', 'call', 'utility', 'other'];

interface Case {
  channel: string;
  sql: string;
  values?: unknown[];
  /** refused before it runs, with this Airlock code */
  refused?: string;
  /** runs; these output columns come back redacted in every row */
  redacted?: string[];
}

const cases: Case[] = [
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM generate_series(1, ascii(substr(c.ssn, 1, 1)))) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "expressions in FROM and WITH", sql: "SELECT v FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH 'x' DEFAULT c.ssn) t", redacted: ["v"] },
  { channel: "expressions in FROM and WITH", sql: "SELECT t.* FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH 'x' DEFAULT c.email) t", redacted: ["v"] },
  { channel: "expressions in FROM and WITH", sql: "SELECT v FROM customers c, xmltable('/r' PASSING xml '<r/>' COLUMNS v text PATH '''' || c.ssn || '''') t", refused: "policy.inference_on_masked_column" },
  { channel: "expressions in FROM and WITH", sql: "WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) SEARCH DEPTH FIRST BY s SET ord SELECT * FROM r NATURAL LEFT JOIN (SELECT NULL::record[] AS ord) z", refused: "policy.inference_on_masked_column" },
  { channel: "expressions in FROM and WITH", sql: "WITH RECURSIVE r(id, s) AS (SELECT id, ssn FROM customers UNION ALL SELECT id, s FROM r WHERE false) SEARCH BREADTH FIRST BY s SET ord SELECT * FROM r", redacted: ["s", "ord"] },
  { channel: "error occurrence", sql: "SELECT substring('x' FROM '[' || substr(ssn, 1, 1) || '-5]') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT ARRAY[string_to_array(ssn, '12'), ARRAY['a', 'b']] FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM (SELECT 1 FROM generate_series(1, 1000) LIMIT ascii(substr(c.ssn, 1, 1))) s) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM (SELECT 1 FROM orders OFFSET length(c.card_number)) s) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM (SELECT 1 FROM orders FETCH FIRST ascii(c.ssn) ROWS ONLY) s) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, generate_series(1, ascii(ssn)) FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT x FROM customers c, unnest(string_to_array(c.ssn, '-')) x", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM regexp_matches(c.email, '.', 'g')) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "SELECT id, (SELECT count(*) FROM jsonb_array_elements(to_jsonb(string_to_array(c.phone, ' ')))) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "row count", sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100) SELECT c.id, (SELECT count(*) FROM r WHERE n < ascii(c.ssn)) FROM customers c", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT 1 / (CASE WHEN substr(ssn, 1, 1) = '2' THEN 0 ELSE 1 END) FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT CASE WHEN ssn LIKE '2%' THEN 'a' ELSE 'b' END FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT count(*) FILTER (WHERE email LIKE 'a%') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT coalesce(nullif(substr(ssn, 1, 1), '2'), 'x') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT id FROM customers WHERE id = 1 AND (substr(ssn, 1, 1) = '2' OR 1 / 0 = 1)", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT 1 / (ascii(ssn) - 50) FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT substr(ssn, 1, 1)::int FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT to_number(card_number, '9999') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT (string_to_array(ssn, '-'))[1]::int FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT make_date(2000, 1, ascii(ssn) - 40) FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT regexp_replace('x', substr(email, 1, 1), 'y') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "control flow", sql: "SELECT greatest(ssn, '3') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT ssn::int FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT to_date(email, 'YYYY') FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT email::json FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT phone::numeric FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "error occurrence", sql: "SELECT card_number::bigint / 0 FROM customers WHERE id = 1", refused: "policy.inference_on_masked_column" },
  { channel: "SQL in a string", sql: "SELECT word FROM ts_stat('SELECT array_to_tsvector(ARRAY[reverse(ssn)]) FROM customers')", refused: "policy.forbidden_function" },
  { channel: "SQL in a string", sql: "SELECT query_to_xml('SELECT ssn FROM customers', true, false, '')", refused: "policy.forbidden_function" },
  { channel: "SQL in a string", sql: "SELECT xpath('//ssn/text()', query_to_xml('SELECT ssn FROM customers', true, false, ''))", refused: "policy.forbidden_function" },
  { channel: "SQL in a string", sql: "SELECT cursor_to_xml('c', 10, true, false, '')", refused: "policy.forbidden_function" },
  { channel: "SQL in a string", sql: "SELECT ts_rewrite('a'::tsquery, 'SELECT to_tsquery(ssn), to_tsquery(email) FROM customers')", refused: "policy.forbidden_function" },
  { channel: "unknown function", sql: "SELECT pg_catalog.textcat(ssn, '') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "unknown function", sql: "SELECT ssn OPERATOR(pg_catalog.||) '' FROM customers", redacted: ["?column?"] },
  { channel: "unknown function", sql: "SELECT public.mystery(ssn) FROM customers", refused: "policy.forbidden_function" },
  { channel: "unknown function", sql: "SELECT \"reverse\"(ssn) FROM customers", redacted: ["reverse"] },
  { channel: "unknown function", sql: "SELECT pg_catalog.reverse(ssn) FROM customers", redacted: ["reverse"] },
  { channel: "unknown function", sql: "SELECT lower(pg_catalog.reverse(email)) FROM customers", redacted: ["lower"] },
  { channel: "statistics", sql: "SELECT * FROM pg_stats WHERE tablename = 'customers'", refused: "policy.forbidden_relation" },
  { channel: "statistics", sql: "SELECT most_common_vals FROM pg_catalog.pg_stats", refused: "policy.forbidden_relation" },
  { channel: "statistics", sql: "SELECT * FROM pg_stats_ext", refused: "policy.forbidden_relation" },
  { channel: "statistics", sql: "SELECT stavalues1 FROM pg_statistic", refused: "policy.forbidden_relation" },
  { channel: "statistics", sql: "SELECT query FROM pg_stat_activity", refused: "policy.forbidden_relation" },
  { channel: "statistics", sql: "SELECT * FROM pg_largeobject", refused: "policy.forbidden_relation" },
  { channel: "unknown relation", sql: "SELECT * FROM \"customers\"", redacted: ["ssn"] },
  { channel: "unknown relation", sql: "SELECT ssn FROM public.customers", redacted: ["ssn"] },
  { channel: "unknown relation", sql: "SELECT ssn FROM (customers)", refused: "policy.parse_error" },
  { channel: "unknown relation", sql: "SELECT ssn FROM ONLY customers", redacted: ["ssn"] },
  { channel: "unknown relation", sql: "SELECT * FROM no_such_table", refused: "policy.unknown_relation" },
  { channel: "unknown relation", sql: "SELECT c FROM customers c", redacted: ["c"] },
  { channel: "value", sql: "SELECT row_to_json(c) FROM customers c", redacted: ["row_to_json"] },
  { channel: "value", sql: "SELECT to_jsonb(c.*) ->> 'ssn' FROM customers c", redacted: ["?column?"] },
  { channel: "value", sql: "SELECT string_agg(ssn, ',') FROM customers", redacted: ["string_agg"] },
  { channel: "value", sql: "SELECT array_agg(email ORDER BY id) FROM customers", redacted: ["array_agg"] },
  { channel: "value", sql: "SELECT format('%s', card_number) FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "value", sql: "SELECT reverse(ssn) FROM customers", redacted: ["reverse"] },
  { channel: "value", sql: "SELECT encode(convert_to(ssn, 'UTF8'), 'hex') FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "value", sql: "SELECT md5(ssn) FROM customers", redacted: ["md5"] },
  { channel: "value", sql: "SELECT length(ssn), ssn LIKE '2%' FROM customers", redacted: ["length", "?column?"] },
  { channel: "value", sql: "SELECT notes FROM customers", redacted: [] },
  { channel: "hash of derived", sql: "SELECT substr(notes, 1, 3) FROM customers", redacted: ["substr"] },
  { channel: "inference", sql: "SELECT DISTINCT ssn FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT count(DISTINCT ssn) FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT id FROM customers ORDER BY ssn", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT email, count(*) FROM customers GROUP BY 1", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT id, rank() OVER (ORDER BY card_number) FROM customers", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM customers d WHERE d.ssn = customers.ssn AND d.id <> customers.id)", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT id FROM customers WHERE ssn IN (SELECT ssn FROM customers)", refused: "policy.inference_on_masked_column" },
  { channel: "inference", sql: "SELECT ssn FROM customers UNION SELECT 'x'", refused: "policy.inference_on_masked_column" },
  { channel: "prepared and cursor", sql: "PREPARE p AS SELECT id, ssn FROM customers", redacted: [] },
  { channel: "prepared and cursor", sql: "EXECUTE p", redacted: ["ssn"] },
  { channel: "prepared and cursor", sql: "PREPARE q (text) AS SELECT id FROM customers WHERE ssn = $1", refused: "policy.inference_on_masked_column" },
  { channel: "prepared and cursor", sql: "PREPARE r (int) AS SELECT id, ssn FROM customers WHERE id = $1", redacted: [] },
  { channel: "prepared and cursor", sql: "EXECUTE r((SELECT length(ssn) FROM customers LIMIT 1))", refused: "policy.forbidden_command" },
  { channel: "prepared and cursor", sql: "CREATE TABLE copied AS EXECUTE p", refused: "policy.forbidden_command" },
  { channel: "prepared and cursor", sql: "DECLARE c CURSOR WITH HOLD FOR SELECT id, ssn FROM customers", redacted: [] },
  { channel: "prepared and cursor", sql: "FETCH 3 FROM c", redacted: ["ssn"] },
  { channel: "prepared and cursor", sql: "DECLARE d CURSOR WITH HOLD FOR SELECT id FROM customers ORDER BY ssn", refused: "policy.inference_on_masked_column" },
  { channel: "prepared and cursor", sql: "SET standard_conforming_strings = off", refused: "policy.forbidden_command" },
  { channel: "parsing setting", sql: "SET backslash_quote = on", refused: "policy.forbidden_command" },
  { channel: "parsing setting", sql: "SET search_path = pg_temp, public", refused: "policy.forbidden_command" },
  { channel: "parsing setting", sql: "SET client_encoding = 'SJIS'", refused: "policy.forbidden_command" },
  { channel: "parsing setting", sql: "RESET ALL", refused: "policy.forbidden_command" },
  { channel: "parsing setting", sql: "SELECT set_config('standard_conforming_strings', 'off', false)", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "SELECT pg_read_file('/etc/passwd')", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "SELECT lo_import('/etc/passwd')", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "SELECT dblink('dbname=airlock', 'SELECT 1')", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "SELECT pg_sleep(10)", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "SELECT nextval('orders_id_seq')", refused: "policy.forbidden_function" },
  { channel: "side effect", sql: "DO $$ BEGIN RAISE NOTICE '%', (SELECT ssn FROM customers LIMIT 1); END $$", refused: "policy.forbidden_command" },
  { channel: "explain", sql: "EXPLAIN SELECT id FROM customers WHERE ssn = '123-45-6789'", refused: "policy.inference_on_masked_column" },
  { channel: "explain", sql: "EXPLAIN ANALYZE SELECT id FROM customers WHERE substr(ssn, 1, 1) = '2'", refused: "policy.inference_on_masked_column" },
  { channel: 'hash of derived', sql: "SELECT upper(notes) FROM customers", redacted: ['upper'] },
  { channel: 'hash of derived', sql: "SELECT notes || '' AS n FROM customers", redacted: ['n'] },
  { channel: 'hash of derived', sql: 'SELECT left(notes, 1) AS first FROM customers', redacted: ['first'] },
  { channel: 'explain', sql: 'EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM customers WHERE email LIKE $$a%$$', refused: 'policy.inference_on_masked_column' },
  // the extended protocol: the same channels with bind parameters
  { channel: 'row count', sql: 'SELECT id, (SELECT count(*) FROM generate_series($1::int, ascii(c.ssn))) FROM customers c', values: [1], refused: 'policy.inference_on_masked_column' },
  { channel: 'row count', sql: 'SELECT id FROM customers c LIMIT length(c.email) - $1::int', values: [3], refused: 'policy.inference_on_masked_column' },
  { channel: 'control flow', sql: 'SELECT CASE WHEN substr(ssn, 1, 1) = $1 THEN 1 ELSE 0 END FROM customers', values: ['2'], refused: 'policy.inference_on_masked_column' },
  { channel: 'error occurrence', sql: 'SELECT 1 / (ascii(ssn) - $1::int) FROM customers WHERE id = 1', values: [50], refused: 'policy.inference_on_masked_column' },
  { channel: 'error occurrence', sql: 'SELECT ssn::int FROM customers WHERE id = $1', values: [1], refused: 'policy.inference_on_masked_column' },
  { channel: 'inference', sql: 'SELECT id FROM customers WHERE ssn = $1', values: ['000-00-0000'], refused: 'policy.inference_on_masked_column' },
  { channel: 'SQL in a string', sql: 'SELECT word FROM ts_stat($1)', values: ['SELECT array_to_tsvector(ARRAY[ssn]) FROM customers'], refused: 'policy.forbidden_function' },
  { channel: 'SQL in a string', sql: 'SELECT query_to_xml($1, true, false, $2)', values: ['SELECT ssn FROM customers', ''], refused: 'policy.forbidden_function' },
  { channel: 'value', sql: 'SELECT reverse(ssn), $1::text FROM customers', values: ['x'], redacted: ['reverse'] },
  { channel: 'value', sql: 'SELECT id, email FROM customers WHERE id = $1', values: [1], redacted: [] },
];

const customers = demoCustomers();

/** Every clear sensitive value of the demo, whole, reversed, hex-encoded and hashed, and its local or digit parts. */
function sensitiveValues(): string[] {
  const out = new Set<string>();
  for (const c of customers) {
    for (const v of [c.email, c.phone, c.card_number, c.ssn]) {
      out.add(v);
      out.add([...v].reverse().join(''));
      out.add(Buffer.from(v).toString('hex'));
      out.add(createHash('md5').update(v).digest('hex'));
      for (const run of v.match(/\d{6,}/g) ?? []) out.add(run);
    }
    out.add(c.email.slice(0, c.email.indexOf('@')));
    out.add(c.ssn.replace(/-/g, ''));
  }
  return [...out];
}
const SENSITIVE = sensitiveValues();

function leaks(text: string): string[] {
  return SENSITIVE.filter((v) => text.includes(v));
}

describe('side channels around masking through the PostgreSQL front door', () => {
  let t: TestStack;
  let client: pg.Client;
  let sessionId: string;
  let refusedSoFar = 0;

  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        c['policies'] = [...c['policies'], { name: 'agents-anything', groups: ['agents'], kinds: KINDS, decision: 'allow', role: 'reader' }];
        c['masking'] = {
          ...c['masking'],
          rules: [...c['masking']['rules'], { name: 'customer-notes', table: 'customers', columns: ['notes'], action: 'hash', exemptGroups: ['pii-readers'] }],
        };
      },
    });
    const token = await t.token({ subject: 'agent-side-channels', groups: ['agents'] });
    client = new pg.Client({ connectionString: t.pgUrl(token) });
    await client.connect();
    const { rows } = await stateQuery<{ session_id: string }>(
      "SELECT session_id FROM audit_events WHERE event_type = 'proxy.v1.session-opened' AND payload->'principal'->>'subject' = $1",
      ['agent-side-channels'],
      1,
    );
    sessionId = rows[0]!.session_id;
  });
  after(async () => {
    await client?.end().catch(() => undefined);
    await t?.close();
  });

  /** Rows of the test's state database, waiting until at least `atLeast` come back (the audit writer is asynchronous). */
  async function stateQuery<R extends pg.QueryResultRow>(sql: string, args: unknown[], atLeast: number): Promise<pg.QueryResult<R>> {
    return eventually(
      async () => {
        const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
        await c.connect();
        try {
          const r = await c.query<R>(sql, args);
          return r.rows.length >= atLeast ? r : undefined;
        } finally {
          await c.end();
        }
      },
      15_000,
      `${atLeast} audit rows`,
    );
  }

  for (const c of cases) {
    it(`${c.channel}: ${c.sql}${c.values ? ' (extended protocol)' : ''}`, async () => {
      let rows: Record<string, unknown>[] | undefined;
      let error: { code?: string; message: string; detail?: string; hint?: string } | undefined;
      try {
        const r = await client.query(c.values ? { text: c.sql, values: c.values } : c.sql);
        rows = r.rows;
      } catch (err) {
        const e = err as { code?: string; message: string; detail?: string; hint?: string };
        error = { code: e.code, message: e.message, detail: e.detail, hint: e.hint };
      }
      assert.deepEqual(leaks(JSON.stringify(rows ?? error)), [], 'a clear value reached the client');
      if (c.refused !== undefined) {
        assert.ok(error, `expected a refusal (${c.refused}), got ${rows?.length} rows`);
        refusedSoFar += 1;
        const failed = await stateQuery<{ payload: { code: string; message: string } }>(
          "SELECT payload FROM audit_events WHERE event_type = 'proxy.v1.query-failed' AND session_id = $1 ORDER BY seq",
          [sessionId],
          refusedSoFar,
        );
        const last = failed.rows[failed.rows.length - 1]!.payload;
        assert.equal(last.code, c.refused);
        assert.equal(error.message, last.message);
        assert.match(error.code ?? '', /^(42501|42P01|42601|0A000|54000)$/);
      } else {
        assert.equal(error, undefined, `expected rows, got ${error?.code}: ${error?.message}`);
        for (const name of c.redacted ?? []) {
          for (const row of rows!) assert.ok(row[name] === '[REDACTED]' || row[name] === null, `${name} came back as ${String(row[name])}`);
        }
      }
    });
  }

  it('stored no clear value in any audit event of the session', async () => {
    const { rows } = await stateQuery<{ event_type: string; payload: unknown }>(
      'SELECT event_type, payload FROM audit_events WHERE session_id = $1 ORDER BY seq',
      [sessionId],
      cases.length,
    );
    for (const r of rows) assert.deepEqual(leaks(JSON.stringify(r.payload)), [], `${r.event_type} holds a clear value`);
  });

  it('covers every channel with at least three cases', () => {
    const per = new Map<string, number>();
    for (const c of cases) per.set(c.channel, (per.get(c.channel) ?? 0) + 1);
    for (const [channel, n] of per) assert.ok(n >= 3, `${channel} has only ${n} cases`);
    assert.ok(cases.length >= 90, `${cases.length} cases`);
  });
});
