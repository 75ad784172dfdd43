/**
 * The Snowflake metadata and session surfaces, as data: which `SHOW`/`DESCRIBE` objects and `INFORMATION_SCHEMA` views
 * a principal who may read anything on a connection may also read (answered by the upstream as the lease's own role
 * sees them), which `USE` and `ALTER SESSION` statements a client may send, and why everything else stays closed.
 * Anything not listed is closed: Snowflake adds views and parameters, and a new one may carry values or change parsing.
 */
import type { Analysis } from '@airlock/contracts';
import { keyword, splitStatements, type Token } from '../analysis/snowflake/lexer.js';

/** `SHOW <object>` answered as the lease's role sees it: names, types, owners and comments of what it may read. */
export const SNOWFLAKE_SHOW_OBJECTS: ReadonlySet<string> = new Set([
  'DATABASES',
  'SCHEMAS',
  'TABLES',
  'VIEWS',
  'COLUMNS',
  'WAREHOUSES',
  'OBJECTS',
  'PRIMARY KEYS',
  'IMPORTED KEYS',
  'UNIQUE KEYS',
  'EXTERNAL TABLES',
  'MATERIALIZED VIEWS',
  'DYNAMIC TABLES',
  'SEQUENCES',
  'USER FUNCTIONS',
  'FUNCTIONS',
]);

/** `DESCRIBE <object>` answered as the lease's role sees it (`DESC name` alone describes a table). */
export const SNOWFLAKE_DESCRIBE_OBJECTS: ReadonlySet<string> = new Set(['TABLE', 'VIEW', 'MATERIALIZED VIEW', 'EXTERNAL TABLE', 'DYNAMIC TABLE']);

/** `INFORMATION_SCHEMA` views that describe objects (never their contents, history or statistics). */
export const SNOWFLAKE_INFORMATION_SCHEMA_VIEWS: ReadonlySet<string> = new Set([
  'TABLES',
  'COLUMNS',
  'SCHEMATA',
  'VIEWS',
  'TABLE_CONSTRAINTS',
  'REFERENTIAL_CONSTRAINTS',
  'DATABASES',
  'SEQUENCES',
  'FUNCTIONS',
  'PROCEDURES',
  'EXTERNAL_TABLES',
  'EVENT_TABLES',
  'ENABLED_ROLES',
  'APPLICABLE_ROLES',
  'TABLE_PRIVILEGES',
  'OBJECT_PRIVILEGES',
  'USAGE_PRIVILEGES',
  'INFORMATION_SCHEMA_CATALOG_NAME',
]);

/**
 * Session parameters an agent may set (`ALTER SESSION SET`/`UNSET`): output formatting, week and time-zone
 * conventions, the statement's tag (kept beside Airlock's own attribution tag), result caching and lock waits.
 */
export const SNOWFLAKE_SETTABLE: ReadonlySet<string> = new Set([
  'QUERY_TAG',
  'TIMEZONE',
  'TIMESTAMP_OUTPUT_FORMAT',
  'TIMESTAMP_LTZ_OUTPUT_FORMAT',
  'TIMESTAMP_NTZ_OUTPUT_FORMAT',
  'TIMESTAMP_TZ_OUTPUT_FORMAT',
  'DATE_OUTPUT_FORMAT',
  'TIME_OUTPUT_FORMAT',
  'WEEK_START',
  'WEEK_OF_YEAR_POLICY',
  'JSON_INDENT',
  'USE_CACHED_RESULT',
  'LOCK_TIMEOUT',
  'ROWS_PER_RESULTSET',
]);

/**
 * Parameters closed whatever the config says, with the reason: they change how the server reads a statement's bytes
 * (so Airlock's analysis and Snowflake would read different statements), how values leave it (so masking could miss
 * them), or the limits and transaction boundaries Airlock set for the lease.
 */
export const SNOWFLAKE_PINNED: ReadonlyMap<string, string> = new Map([
  ...['QUOTED_IDENTIFIERS_IGNORE_CASE', 'TIMESTAMP_INPUT_FORMAT', 'DATE_INPUT_FORMAT', 'TIME_INPUT_FORMAT', 'BINARY_INPUT_FORMAT', 'TIMESTAMP_TYPE_MAPPING', 'SQL_DIALECT'].map(
    (p): [string, string] => [p, 'changes how Snowflake reads a statement, so Airlock would check a different statement than the one that runs'],
  ),
  ...['BINARY_OUTPUT_FORMAT', 'GEOGRAPHY_OUTPUT_FORMAT', 'GEOMETRY_OUTPUT_FORMAT', 'CLIENT_RESULT_CHUNK_SIZE', 'PYTHON_CONNECTOR_QUERY_RESULT_FORMAT', 'JDBC_QUERY_RESULT_FORMAT', 'ODBC_QUERY_RESULT_FORMAT', 'JS_TREAT_INTEGER_AS_BIGINT'].map(
    (p): [string, string] => [p, 'changes how results are encoded on the way back, which Airlock reads to mask them'],
  ),
  ...['STATEMENT_TIMEOUT_IN_SECONDS', 'STATEMENT_QUEUED_TIMEOUT_IN_SECONDS', 'MULTI_STATEMENT_COUNT'].map(
    (p): [string, string] => [p, 'overrides a limit Airlock set for this lease (limits.timeoutMs, one statement per request)'],
  ),
  ...['AUTOCOMMIT', 'TRANSACTION_DEFAULT_ISOLATION_LEVEL', 'TRANSACTION_ABORT_ON_ERROR'].map(
    (p): [string, string] => [p, 'changes transaction boundaries, which must not outlive a per-statement credential'],
  ),
  ...['SIMULATED_DATA_SHARING_CONSUMER', 'ABORT_DETACHED_QUERY', 'CLIENT_SESSION_KEEP_ALIVE', 'SEARCH_PATH'].map(
    (p): [string, string] => [p, 'changes what the session can see or how long it lives, which Airlock decides for the lease'],
  ),
]);

/** What a Snowflake statement is on the metadata and session surfaces. */
export type SnowflakeSurface =
  | { surface: 'metadata'; what: string }
  /** `role`: the role a `USE ROLE` names, allowed only when it is the role the lease already has */
  | { surface: 'session'; what: string; parameters?: string[]; role?: string }
  /** a statement of these surfaces that stays closed whatever the rules say */
  | { surface: 'closed'; what: string; reason: string; configKey?: string };

const SHOW_WHY =
  'lists account objects beyond the data this connection reads (users, roles, grants, integrations, parameters, history); ' +
  'Airlock opens only the SHOW commands that describe tables and where they live';

function words(tokens: readonly Token[], from: number, n: number): string {
  return tokens
    .slice(from, from + n)
    .map((t) => keyword(t))
    .join(' ')
    .trim();
}

function classifyShow(tokens: readonly Token[]): SnowflakeSurface {
  let i = 1;
  if (keyword(tokens[i]) === 'TERSE') i += 1;
  const two = words(tokens, i, 2);
  const one = words(tokens, i, 1);
  const object = SNOWFLAKE_SHOW_OBJECTS.has(two) ? two : one;
  if (SNOWFLAKE_SHOW_OBJECTS.has(object)) return { surface: 'metadata', what: `SHOW ${object}` };
  return { surface: 'closed', what: `SHOW ${one || '(nothing)'}`, reason: SHOW_WHY };
}

function classifyDescribe(tokens: readonly Token[]): SnowflakeSurface {
  const two = words(tokens, 1, 2);
  const one = words(tokens, 1, 1);
  if (SNOWFLAKE_DESCRIBE_OBJECTS.has(two)) return { surface: 'metadata', what: `DESCRIBE ${two}` };
  if (SNOWFLAKE_DESCRIBE_OBJECTS.has(one)) return { surface: 'metadata', what: `DESCRIBE ${one}` };
  // `DESC customers`: no object keyword, so a table name follows
  if (tokens.length >= 2 && (tokens[1].type === 'quoted' || (tokens[1].type === 'word' && !KNOWN_OBJECT_WORDS.has(one)))) {
    return { surface: 'metadata', what: 'DESCRIBE TABLE' };
  }
  return {
    surface: 'closed',
    what: `DESCRIBE ${one || '(nothing)'}`,
    reason: 'describes an account object beyond the tables and views this connection reads (users, integrations, stages, functions’ bodies)',
  };
}

/** Object keywords a bare `DESC` may be followed by: none of them is read as a table name. */
const KNOWN_OBJECT_WORDS: ReadonlySet<string> = new Set([
  'USER', 'ROLE', 'INTEGRATION', 'STAGE', 'FUNCTION', 'PROCEDURE', 'PIPE', 'TASK', 'STREAM', 'SEQUENCE', 'FILE', 'RESULT',
  'SEARCH', 'NETWORK', 'WAREHOUSE', 'DATABASE', 'SCHEMA', 'SHARE', 'SECRET', 'SERVICE', 'ALERT', 'MASKING', 'ROW',
  'SESSION', 'STORAGE', 'NOTIFICATION', 'SECURITY', 'EXTERNAL', 'MATERIALIZED', 'DYNAMIC', 'ICEBERG', 'EVENT', 'TAG',
]);

/** The connection's own database and schema, where Airlock resolves unqualified names. */
export interface SnowflakeHome {
  connection: string;
  database?: string;
  schema?: string;
}

function identParts(tokens: readonly Token[], from: number): string[] {
  const parts: string[] = [];
  for (let i = from; i < tokens.length; i += 2) {
    const t = tokens[i];
    if (t.type !== 'word' && t.type !== 'quoted') break;
    parts.push(t.type === 'quoted' ? t.value : t.value.toUpperCase());
    if (tokens[i + 1]?.value !== '.') break;
  }
  return parts;
}

/**
 * `USE DATABASE/SCHEMA` may only name the connection's own database and schema: Airlock resolves unqualified names
 * there, and a different default would have it check one table while Snowflake reads another.
 */
function useTarget(what: 'DATABASE' | 'SCHEMA', parts: readonly string[], home: SnowflakeHome): SnowflakeSurface {
  const db = (home.database ?? '').toUpperCase();
  const schema = (home.schema ?? 'PUBLIC').toUpperCase();
  const wanted = what === 'DATABASE' ? [db] : parts.length === 2 ? [db, schema] : [schema];
  const ok = parts.length === wanted.length && parts.every((p, i) => p === wanted[i]) && (what === 'SCHEMA' || db !== '');
  if (ok) return { surface: 'session', what: `USE ${what}` };
  return {
    surface: 'closed',
    what: `USE ${what} ${parts.join('.')}`,
    reason:
      `names a default other than the connection's own (${db || '(none)'}.${schema}), where Airlock resolves unqualified names; ` +
      'another default would have Airlock check one table while Snowflake reads another. Qualify table names instead',
    configKey: `connections.${home.connection}.database and .schema`,
  };
}

function classifyUse(tokens: readonly Token[], home: SnowflakeHome): SnowflakeSurface {
  const what = keyword(tokens[1]);
  if (what === 'WAREHOUSE') return { surface: 'session', what: `USE ${what}` };
  if (what === 'DATABASE' || what === 'SCHEMA') return useTarget(what, identParts(tokens, 2), home);
  if (what === 'ROLE' && identParts(tokens, 2).length === 1 && tokens.length === 3) {
    return { surface: 'session', what: 'USE ROLE', role: identParts(tokens, 2)[0] };
  }
  if (what === 'ROLE' || what === 'SECONDARY') {
    return {
      surface: 'closed',
      what: what === 'ROLE' ? 'USE ROLE' : 'USE SECONDARY ROLES',
      reason: 'switches the database role that Airlock scoped this lease to; the role comes from the policy rule that allowed your statement',
      configKey: 'policies[].role',
    };
  }
  // `USE mydb` and `USE mydb.myschema`
  if (tokens.length >= 2 && (tokens[1].type === 'word' || tokens[1].type === 'quoted')) {
    const parts = identParts(tokens, 1);
    return parts.length === 2 ? useTarget('SCHEMA', parts, home) : useTarget('DATABASE', parts, home);
  }
  return { surface: 'closed', what: `USE ${what}`, reason: 'Airlock does not know what it changes' };
}

function classifyAlterSession(tokens: readonly Token[], allowSettings: readonly string[]): SnowflakeSurface {
  const verb = keyword(tokens[2]);
  if (verb !== 'SET' && verb !== 'UNSET') {
    return { surface: 'closed', what: `ALTER SESSION ${verb}`, reason: 'Airlock only opens ALTER SESSION SET and UNSET of listed parameters' };
  }
  // parameter names: the word at the start and after each top-level comma (`SET a = 1, b = 'x'` or `UNSET a, b`)
  const parameters: string[] = [];
  let depth = 0;
  let expectName = true;
  for (let i = 3; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type === 'punct' && t.value === '(') depth += 1;
    else if (t.type === 'punct' && t.value === ')') depth -= 1;
    else if (t.type === 'punct' && t.value === ',' && depth === 0) {
      expectName = true;
      continue;
    } else if (expectName && (t.type === 'word' || t.type === 'quoted')) {
      parameters.push(t.value.toUpperCase());
    } else if (expectName) {
      return { surface: 'closed', what: `ALTER SESSION ${verb}`, reason: 'Airlock could not read the parameter names of this statement' };
    }
    expectName = false;
  }
  if (parameters.length === 0) return { surface: 'closed', what: `ALTER SESSION ${verb}`, reason: 'it names no parameter' };
  const extra = new Set(allowSettings.map((s) => s.toUpperCase()));
  for (const p of parameters) {
    const pinned = SNOWFLAKE_PINNED.get(p);
    if (pinned !== undefined) return { surface: 'closed', what: `the session parameter ${p}`, reason: pinned };
    if (!SNOWFLAKE_SETTABLE.has(p) && !extra.has(p)) {
      return {
        surface: 'closed',
        what: `the session parameter ${p}`,
        reason: 'is not on the list of session parameters Airlock knows to be safe',
        configKey: 'guardrails.allowSettings',
      };
    }
  }
  return { surface: 'session', what: `ALTER SESSION ${verb}`, parameters };
}

/**
 * The surface a Snowflake statement belongs to, or undefined for a statement of neither (a data statement, decided by
 * the rules). A SELECT is metadata when every relation it reads is a listed `INFORMATION_SCHEMA` view; any other
 * `INFORMATION_SCHEMA` view is closed (storage metrics, load and query history carry values or other sessions' text).
 */
export function snowflakeSurface(sql: string, analysis: Analysis, home: SnowflakeHome, allowSettings: readonly string[] = []): SnowflakeSurface | undefined {
  const statements = splitStatements(sql);
  if (statements.length !== 1) return undefined;
  const tokens = statements[0].tokens;
  switch (keyword(tokens[0])) {
    case 'SHOW':
      return classifyShow(tokens);
    case 'DESCRIBE':
    case 'DESC':
      return classifyDescribe(tokens);
    case 'USE':
      return classifyUse(tokens, home);
    case 'ALTER':
      return keyword(tokens[1]) === 'SESSION' ? classifyAlterSession(tokens, allowSettings) : undefined;
    default:
      break;
  }
  const info = analysis.tables.filter((t) => t.schema.toUpperCase() === 'INFORMATION_SCHEMA');
  const closed = info.find((t) => !SNOWFLAKE_INFORMATION_SCHEMA_VIEWS.has(t.table.toUpperCase()));
  if (closed !== undefined) {
    return {
      surface: 'closed',
      what: `INFORMATION_SCHEMA.${closed.table.toUpperCase()}`,
      reason: 'is not one of the INFORMATION_SCHEMA views that only describe objects (history, storage and usage views carry values and other sessions’ statement text)',
    };
  }
  const readsOnly = analysis.kinds.every((k) => k === 'select');
  if (readsOnly && info.length > 0 && info.length === analysis.tables.length) return { surface: 'metadata', what: 'INFORMATION_SCHEMA' };
  return undefined;
}
