/** The allow-lists are data: the classes of the functions issue 13 names, and the settings that are never settable. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALLOWED_CLASSES, functionClass, functionVerdict, knownOperator, settingVerdict } from '../../src/allowlists/index.js';
import { POSTGRES_FUNCTIONS } from '../../src/allowlists/postgres-functions.js';
import { POSTGRES_PINNED, POSTGRES_SETTABLE } from '../../src/allowlists/postgres-settings.js';

describe('PostgreSQL function allow-list', () => {
  const expected: Record<string, string> = {
    upper: 'scalar',
    substr: 'scalar',
    count: 'aggregate',
    string_agg: 'aggregate',
    row_number: 'window',
    generate_series: 'set-returning',
    jsonb_array_elements: 'set-returning',
    query_to_xml: 'sql-from-text',
    query_to_xml_and_xmlschema: 'sql-from-text',
    cursor_to_xml: 'sql-from-text',
    ts_stat: 'sql-from-text',
    ts_rewrite: 'sql-from-text',
    dblink: 'sql-from-text',
    dblink_exec: 'sql-from-text',
    table_to_xml: 'reads-relations',
    schema_to_xml: 'reads-relations',
    database_to_xml: 'reads-relations',
    currval: 'reads-relations',
    lastval: 'reads-relations',
    pg_stat_get_activity: 'reads-relations',
    pg_mcv_list_items: 'reads-relations',
    pg_ls_dir: 'reads-relations',
    nextval: 'side-effects',
    setval: 'side-effects',
    pg_advisory_lock: 'side-effects',
    pg_try_advisory_xact_lock: 'side-effects',
    pg_notify: 'side-effects',
    lo_import: 'side-effects',
    lo_export: 'side-effects',
    pg_sleep: 'side-effects',
    pg_sleep_for: 'side-effects',
    set_config: 'session',
    setseed: 'session',
    pg_read_file: 'admin',
    pg_read_binary_file: 'admin',
    pg_stat_file: 'admin',
    pg_terminate_backend: 'admin',
    pg_cancel_backend: 'admin',
    pg_reload_conf: 'admin',
    pg_stat_reset: 'admin',
    pg_get_viewdef: 'catalog',
    pg_get_constraintdef: 'catalog',
    format_type: 'catalog',
    pg_table_is_visible: 'catalog',
    has_table_privilege: 'catalog',
    has_column_privilege: 'catalog',
    version: 'catalog',
    current_schema: 'catalog',
    txid_current: 'catalog',
  };
  for (const [name, cls] of Object.entries(expected)) {
    test(`${name} is ${cls}`, () => assert.equal(functionClass('postgres', name), cls));
  }

  test('pg_catalog-qualified names resolve; any other schema is unknown', () => {
    assert.equal(functionClass('postgres', 'pg_catalog.upper'), 'scalar');
    assert.equal(functionClass('postgres', 'PG_CATALOG.PG_READ_FILE'), 'admin');
    assert.equal(functionClass('postgres', 'public.upper'), undefined);
    assert.equal(functionClass('postgres', 'my_udf'), undefined);
  });

  test('only computing and metadata classes run without configuration', () => {
    assert.deepEqual([...ALLOWED_CLASSES].sort(), ['aggregate', 'catalog', 'scalar', 'set-returning', 'window']);
    assert.equal(functionVerdict('postgres', 'nextval', {}).allowed, false);
    assert.equal(functionVerdict('postgres', 'nextval', { allowFunctions: ['next*'] }).allowed, true);
    assert.equal(functionVerdict('postgres', 'upper', { forbiddenFunctions: ['upper'], allowFunctions: ['upper'] }).allowed, false);
    assert.equal(functionVerdict('postgres', 'public.f', {}).class, 'unknown');
  });

  test('the generated list is large and every name is lower case', () => {
    assert.ok(POSTGRES_FUNCTIONS.size > 1500, `${POSTGRES_FUNCTIONS.size}`);
    for (const name of POSTGRES_FUNCTIONS.keys()) assert.equal(name, name.toLowerCase());
  });

  test('operators: pg_catalog only', () => {
    assert.equal(knownOperator('='), true);
    assert.equal(knownOperator('pg_catalog.~~'), true);
    assert.equal(knownOperator('public.='), false);
    assert.equal(knownOperator('###'), false);
  });
});

describe('PostgreSQL settings allow-list', () => {
  test('parsing- and security-relevant parameters are pinned, even when the config names them', () => {
    for (const name of ['standard_conforming_strings', 'backslash_quote', 'escape_string_warning', 'client_encoding', 'search_path', 'role', 'session_authorization', 'row_security', 'statement_timeout']) {
      assert.ok(POSTGRES_PINNED.has(name), name);
      const v = settingVerdict(name, { allowSettings: [name] });
      assert.equal(v.allowed, false, name);
      assert.equal(v.class, 'pinned', name);
    }
  });

  test('cosmetic parameters are settable, case-insensitively; others only through allowSettings', () => {
    for (const name of ['application_name', 'extra_float_digits', 'DateStyle', 'IntervalStyle', 'TimeZone', 'client_min_messages', 'bytea_output']) {
      assert.equal(settingVerdict(name, {}).allowed, true, name);
    }
    for (const name of POSTGRES_SETTABLE) assert.ok(!POSTGRES_PINNED.has(name), name);
    assert.equal(settingVerdict('work_mem', {}).allowed, false);
    assert.equal(settingVerdict('work_mem', { allowSettings: ['WORK_MEM'] }).allowed, true);
  });
});
