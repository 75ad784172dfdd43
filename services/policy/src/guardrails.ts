/**
 * Pure checks that refuse a statement before any policy rule is consulted. Each returns the first violation or null.
 * Messages name functions, commands and columns (identifiers), never a constant from the statement: a literal in a
 * WHERE clause could itself be a secret.
 */
import type { Analysis, ColumnRef, ColumnUsageClause, Dialect, TableRef } from '@airlock/contracts';
import { lexicalFunctions } from './analysis/commands.js';
import { globPattern } from './masking-plan.js';
import { functionVerdict, knownOperator, settingVerdict, type AllowListConfig, type Verdict } from './allowlists/index.js';
import { isDdlStatement, POSTGRES_STATEMENTS } from './allowlists/postgres-statements.js';
import { catalogRelationAllowed, INFORMATION_SCHEMA_FUNCTIONS, isSystemRelation } from './allowlists/postgres-catalog.js';

export interface GuardrailViolation {
  /** stable error code: `policy.multiple_statements`, `policy.forbidden_function`, `policy.forbidden_command`, `policy.inference_on_masked_column`, `policy.masked_column_copied` */
  code: string;
  message: string;
  /** the guardrail that fired, for the audit record */
  rule: string;
}

/** One deny-list entry: a glob over a lower-case function name (full or unqualified) or a command. */
export interface DenyEntry {
  dialect: Dialect;
  kind: 'function' | 'command';
  pattern: string;
  /** why it is refused, completing "… is not allowed through Airlock: it …" */
  reason: string;
}

const FILES = 'reads or writes files on the database server';
const SESSION = 'changes session behaviour that Airlock set for this lease';
const ROLE = 'switches the database role that Airlock scoped this lease to';
const BYPASS = 'runs SQL that Airlock cannot see, so masking and policy would not apply';
const ADMIN = 'administers the database server or other sessions';

/**
 * The built-in deny list.
 *
 * PostgreSQL functions: server file access (`pg_read_file`, `pg_read_binary_file`, `pg_ls_*` directory listings,
 * `pg_stat_file`, adminpack `pg_file_*`), large objects (`lo_*`, which import and export server files), `dblink*`
 * (connections to other servers), SQL run from a string (`query_to_xml*`, `cursor_to_xml*`, `table_to_xml*`,
 * `schema_to_xml*`, `database_to_xml*`: lineage cannot see inside), `set_config`, backend and server control
 * (`pg_terminate_backend`, `pg_cancel_backend`, `pg_reload_conf`, `pg_rotate_logfile`, `pg_promote`), and `pg_sleep*`
 * (holds a lease open).
 * PostgreSQL commands: `COPY … TO/FROM PROGRAM` and `COPY … TO/FROM` a server file, role switching (`SET ROLE`,
 * `RESET ROLE`, `SET SESSION AUTHORIZATION`), settings Airlock relies on (`search_path`, `statement_timeout`,
 * `row_security`, `session_replication_role`, `default_transaction_read_only`, `transaction_read_only`, `RESET ALL`),
 * `DO` blocks (code Airlock cannot see), `LOAD`, `ALTER SYSTEM`, and two-phase commit (`PREPARE TRANSACTION`,
 * `COMMIT PREPARED`, `ROLLBACK PREPARED`: a prepared transaction outlives the session and its credential).
 * Snowflake: `RESULT_SCAN` (reads another statement's unmasked result), `SYSTEM$*`, `USE SECONDARY ROLES`
 * (`ALTER SESSION` and `USE ROLE` are decided by the session allow-list in `allowlists/snowflake-metadata.ts`), `EXECUTE IMMEDIATE`, `EXECUTE TASK`, `CALL`, `COPY INTO`, `GET`, `PUT`, `REMOVE`, `CREATE STAGE`,
 * `CREATE … INTEGRATION`, anonymous scripting blocks (`DECLARE`).
 */
export const DEFAULT_DENY_LIST: readonly DenyEntry[] = Object.freeze([
  ...['pg_read_file', 'pg_read_binary_file', 'pg_ls_*', 'pg_stat_file', 'pg_file_*', 'pg_logdir_ls'].map((pattern) => ({
    dialect: 'postgres' as const,
    kind: 'function' as const,
    pattern,
    reason: FILES,
  })),
  { dialect: 'postgres', kind: 'function', pattern: 'lo_*', reason: 'uses large objects, which import and export files on the database server' },
  { dialect: 'postgres', kind: 'function', pattern: 'dblink*', reason: 'connects to another database server' },
  ...['query_to_xml*', 'cursor_to_xml*', 'table_to_xml*', 'schema_to_xml*', 'database_to_xml*'].map((pattern) => ({
    dialect: 'postgres' as const,
    kind: 'function' as const,
    pattern,
    reason: BYPASS,
  })),
  { dialect: 'postgres', kind: 'function', pattern: 'set_config', reason: SESSION },
  ...['pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote'].map((pattern) => ({
    dialect: 'postgres' as const,
    kind: 'function' as const,
    pattern,
    reason: ADMIN,
  })),
  { dialect: 'postgres', kind: 'function', pattern: 'pg_sleep*', reason: 'holds the database session and its credential open' },
  { dialect: 'postgres', kind: 'command', pattern: 'copy * program', reason: 'runs a program on the database server' },
  { dialect: 'postgres', kind: 'command', pattern: 'copy * file', reason: FILES },
  ...['set role', 'reset role', 'set session_authorization', 'reset session_authorization'].map((pattern) => ({
    dialect: 'postgres' as const,
    kind: 'command' as const,
    pattern,
    reason: ROLE,
  })),
  ...['search_path', 'statement_timeout', 'row_security', 'session_replication_role', 'default_transaction_read_only', 'transaction_read_only'].flatMap(
    (name) =>
      ['set', 'reset'].map((verb) => ({ dialect: 'postgres' as const, kind: 'command' as const, pattern: `${verb} ${name}`, reason: SESSION })),
  ),
  { dialect: 'postgres', kind: 'command', pattern: 'reset all', reason: SESSION },
  { dialect: 'postgres', kind: 'command', pattern: 'do', reason: BYPASS },
  { dialect: 'postgres', kind: 'command', pattern: 'load', reason: 'loads a shared library into the database server' },
  { dialect: 'postgres', kind: 'command', pattern: 'alter system', reason: ADMIN },
  ...['prepare transaction', 'commit prepared', 'rollback prepared'].map((pattern) => ({
    dialect: 'postgres' as const,
    kind: 'command' as const,
    pattern,
    reason: 'keeps a transaction, with its changes and locks, past the end of the session and of its credential (two-phase commit)',
  })),
  { dialect: 'snowflake', kind: 'function', pattern: 'result_scan', reason: 'reads the result of another statement, which Airlock did not mask' },
  { dialect: 'snowflake', kind: 'function', pattern: 'system$*', reason: 'calls a Snowflake system function' },
  { dialect: 'snowflake', kind: 'command', pattern: 'use secondary roles', reason: ROLE },
  { dialect: 'snowflake', kind: 'command', pattern: 'execute immediate', reason: BYPASS },
  { dialect: 'snowflake', kind: 'command', pattern: 'execute task', reason: BYPASS },
  { dialect: 'snowflake', kind: 'command', pattern: 'declare', reason: BYPASS },
  { dialect: 'snowflake', kind: 'command', pattern: 'call', reason: BYPASS },
  { dialect: 'snowflake', kind: 'command', pattern: 'copy into', reason: 'copies data to or from a stage outside Airlock' },
  ...['get', 'put', 'remove'].map((pattern) => ({
    dialect: 'snowflake' as const,
    kind: 'command' as const,
    pattern,
    reason: 'moves files between a stage and a client outside Airlock',
  })),
  { dialect: 'snowflake', kind: 'command', pattern: 'create stage', reason: 'creates a stage that data can be copied out through' },
  { dialect: 'snowflake', kind: 'command', pattern: 'create * integration', reason: 'creates an integration with an outside system' },
] satisfies DenyEntry[]);

/** More than one statement in one request (each request is checked, approved and audited as one statement). */
export function multipleStatementsViolation(analysis: Analysis, allowMultiple = false): GuardrailViolation | null {
  if (allowMultiple || analysis.statementCount <= 1) return null;
  return {
    code: 'policy.multiple_statements',
    message: `the request holds ${analysis.statementCount} statements; Airlock runs one statement per request. Send each statement on its own.`,
    rule: 'guardrail:single_statement',
  };
}

/**
 * The first function or command of the deny list (built-in plus `extra`) that the statement uses. `commands` are the
 * statement-level commands from the analysis' in-process result (`inspect()`); for Snowflake the functions the lexer
 * finds in `analysis.normalized` are added to `analysis.functions`, and `functions` adds any others.
 */
export function forbiddenViolation(input: {
  analysis: Analysis;
  commands: readonly string[];
  functions?: readonly string[];
  extra?: readonly DenyEntry[];
  replaceDefaults?: boolean;
}): GuardrailViolation | null {
  const { analysis } = input;
  const entries = [...(input.replaceDefaults === true ? [] : DEFAULT_DENY_LIST), ...(input.extra ?? [])].filter(
    (e) => e.dialect === analysis.dialect,
  );
  const compiled = entries.map((e) => ({ entry: e, pattern: globPattern(e.pattern) }));
  // Snowflake text the parser could not fully read may still call functions: the lexer finds every `name(`
  const lexical = analysis.dialect === 'snowflake' ? lexicalFunctions(analysis.normalized) : [];
  const functions = [...new Set([...analysis.functions, ...lexical, ...(input.functions ?? [])].map((f) => f.toLowerCase()))];
  for (const fn of functions) {
    const bare = fn.slice(fn.lastIndexOf('.') + 1);
    const hit = compiled.find((c) => c.entry.kind === 'function' && (c.pattern.test(fn) || c.pattern.test(bare)));
    if (hit !== undefined) {
      return {
        code: 'policy.forbidden_function',
        message: `the function ${fn} is not allowed through Airlock: it ${hit.entry.reason}. Remove it from the statement; if you need it, ask an operator.`,
        rule: `guardrail:${hit.entry.dialect}:function:${hit.entry.pattern}`,
      };
    }
  }
  for (const command of input.commands) {
    const c = command.toLowerCase();
    const hit = compiled.find((x) => x.entry.kind === 'command' && x.pattern.test(c));
    if (hit !== undefined) {
      return {
        code: 'policy.forbidden_command',
        message: `${c.toUpperCase()} is not allowed through Airlock: it ${hit.entry.reason}. Remove it; Airlock sets up the session for you.`,
        rule: `guardrail:${hit.entry.dialect}:command:${hit.entry.pattern}`,
      };
    }
  }
  return null;
}

const CLAUSE_VERB: Readonly<Record<ColumnUsageClause, string>> = {
  where: 'filtering on',
  join: 'joining on',
  group: 'grouping by',
  having: 'filtering groups on',
  order: 'ordering by',
  window: 'partitioning or ordering a window by',
  rows: 'deciding how many rows come back from',
  condition: 'branching on',
  error: 'computing something that can fail from',
};

const CLAUSE_PLACE: Readonly<Record<ColumnUsageClause, string>> = {
  where: 'WHERE clause',
  join: 'join condition',
  group: 'GROUP BY',
  having: 'HAVING clause',
  order: 'ORDER BY',
  window: 'window definition',
  rows: 'LIMIT/OFFSET, TABLESAMPLE, window frame or the arguments of a function that returns rows',
  condition: 'CASE WHEN, COALESCE/NULLIF/GREATEST/LEAST or AND/OR condition',
  error: 'cast, arithmetic or function argument (whether it fails would tell the value)',
};

function displayName(c: ColumnRef): string {
  return c.schema === 'public' ? `${c.table}.${c.column}` : `${c.schema}.${c.table}.${c.column}`;
}

function sameColumn(a: ColumnRef, b: ColumnRef): boolean {
  return a.schema === b.schema && a.table === b.table && (a.column === b.column || a.column === '*' || b.column === '*');
}

/**
 * The first use of a masked column where its values could be inferred: WHERE, JOIN, GROUP BY, HAVING, ORDER BY, window,
 * row counts, conditions and anything that may raise an error. It covers the whole statement.
 */
export function inferenceViolation(analysis: Analysis, maskedSources: readonly ColumnRef[]): GuardrailViolation | null {
  for (const u of analysis.usages) {
    if (!maskedSources.some((m) => sameColumn(m, u.column))) continue;
    const name = displayName(u.column);
    return {
      code: 'policy.inference_on_masked_column',
      message:
        `${CLAUSE_VERB[u.clause]} ${name}, which is masked for you, is not allowed: it would reveal the masked values. ` +
        `Remove ${u.column.column} from the ${CLAUSE_PLACE[u.clause]}, or ask for a group that may see it in clear.`,
      rule: 'guardrail:inference',
    };
  }
  return null;
}

/** A masked column's values written into a table, where they could be read back unmasked. */
export function copyViolation(writtenSources: readonly ColumnRef[], maskedSources: readonly ColumnRef[]): GuardrailViolation | null {
  for (const w of writtenSources) {
    if (!maskedSources.some((m) => sameColumn(m, w))) continue;
    return {
      code: 'policy.masked_column_copied',
      message: `writing ${displayName(w)}, which is masked for you, into a table is not allowed: it could be read back unmasked. Leave ${w.column} out of the written values.`,
      rule: 'guardrail:masked_copy',
    };
  }
  return null;
}

/** Statement facts the allow-list checks need beyond the contract analysis (PostgreSQL only). */
export interface AllowListFacts {
  /** parse-tree node types of the statements and what they wrap */
  statements?: readonly string[];
  /** operators as written */
  operators?: readonly string[];
}

/** Settings commands that are not a single parameter: transaction characteristics are transaction control. */
const TRANSACTION_SETTINGS: ReadonlySet<string> = new Set(['transaction', 'session characteristics']);

/** The parameter a `set x`/`reset x` command changes, `*` for `RESET ALL`/`DISCARD ALL`, or undefined for other commands. */
function settingOf(command: string): string | undefined {
  // DISCARD ALL resets to the session's start-up values, which hold the pinned settings (sent as start-up options),
  // and the proxy sets the lease's limits again before the next statement; RESET ALL stays on the deny list
  if (command === 'reset all') return '*';
  const m = /^(set|reset) (.+)$/.exec(command);
  if (m === null || TRANSACTION_SETTINGS.has(m[2])) return undefined;
  return m[2];
}

/**
 * The allow-list verdict on everything the statement uses: each function, each setting it changes, and each operator
 * that is not pg_catalog's. `airlock policy check` and the decided event show these.
 */
export function allowListVerdicts(analysis: Analysis, commands: readonly string[], facts: AllowListFacts, config: AllowListConfig = {}): Verdict[] {
  const out: Verdict[] = [];
  const postgres = analysis.dialect === 'postgres';
  // information_schema's helpers (JDBC's getPrimaryKeys calls _pg_expandarray) compute from catalog values; they are
  // allowed where the statement reads nothing but system relations, so no column value can reach their arguments
  const metadataOnly = postgres && analysis.tables.every((t) => isSystemRelation(t));
  for (const fn of new Set(analysis.functions.map((f) => f.toLowerCase()))) {
    const helper = fn.startsWith('information_schema.') && INFORMATION_SCHEMA_FUNCTIONS.has(fn.slice('information_schema.'.length));
    if (helper && metadataOnly) out.push({ kind: 'function', name: fn, class: 'catalog', allowed: true, reason: 'reads database metadata' });
    else out.push(functionVerdict(analysis.dialect, fn, config));
  }
  if (!postgres) return out;
  for (const command of commands) {
    const name = settingOf(command);
    if (name === '*') {
      out.push({ kind: 'setting', name: 'all', class: 'pinned', allowed: false, reason: 'resets every setting, including those Airlock pinned for this lease' });
    } else if (name !== undefined) {
      out.push(settingVerdict(name, config));
    }
  }
  for (const op of facts.operators ?? []) {
    if (knownOperator(op)) continue;
    out.push({ kind: 'operator', name: op, class: 'unknown', allowed: false, reason: 'is not a pg_catalog operator, so Airlock cannot tell what it runs' });
  }
  return out;
}

/**
 * Everything the statement uses must be on an allow-list: its statement types, functions, settings and operators.
 * Functions and operators fail with `policy.forbidden_function`, statements and settings with
 * `policy.forbidden_command`; each message names the thing and the config key that opens it, where one does.
 */
export function allowListViolation(input: {
  analysis: Analysis;
  commands: readonly string[];
  facts?: AllowListFacts;
  config?: AllowListConfig;
}): GuardrailViolation | null {
  const { analysis } = input;
  const facts = input.facts ?? {};
  if (analysis.dialect === 'postgres') {
    for (const [i, type] of (facts.statements ?? []).entries()) {
      // EXECUTE inside another statement (CREATE TABLE AS EXECUTE, EXPLAIN EXECUTE) would take rows the proxy masks
      // only when EXECUTE is the statement itself
      if (type === 'ExecuteStmt' && i > 0) {
        return {
          code: 'policy.forbidden_command',
          message: 'EXECUTE inside another statement is not allowed through Airlock: its rows would not pass through the masking decided at PREPARE. Send EXECUTE on its own.',
          rule: 'guardrail:postgres:allowlist:statement:ExecuteStmt',
        };
      }
      if (POSTGRES_STATEMENTS.has(type) || isDdlStatement(type)) continue;
      const what = STATEMENT_NAMES[type] ?? `this kind of statement (${type.replace(/Stmt$/, '')})`;
      return {
        code: 'policy.forbidden_command',
        message: `${what} is not allowed through Airlock: ${STATEMENT_REASONS[type] ?? 'Airlock does not know what it reads or changes, so it refuses it'}. Send the statement itself.`,
        rule: `guardrail:postgres:allowlist:statement:${type}`,
      };
    }
  }
  for (const v of allowListVerdicts(analysis, input.commands, facts, input.config)) {
    if (v.allowed) continue;
    if (v.kind === 'function') {
      const unknown = v.class === 'unknown';
      return {
        code: 'policy.forbidden_function',
        message:
          `the function ${v.name} is not allowed through Airlock: it ${v.reason}` +
          (unknown ? '' : ` (class ${v.class})`) +
          `. Remove it from the statement; an operator can allow it with guardrails.allowFunctions in the config.`,
        rule: `guardrail:${analysis.dialect}:allowlist:function:${v.name}`,
      };
    }
    if (v.kind === 'operator') {
      return {
        code: 'policy.forbidden_function',
        message: `the operator ${v.name} is not allowed through Airlock: it ${v.reason}. Use the built-in operators or functions instead.`,
        rule: 'guardrail:postgres:allowlist:operator',
      };
    }
    const pinned = v.class === 'pinned';
    return {
      code: 'policy.forbidden_command',
      message:
        `changing the setting ${v.name} is not allowed through Airlock: it ${v.reason}.` +
        (pinned ? ' Airlock sets it for you and keeps it.' : ' Remove the SET/RESET; an operator can allow it with guardrails.allowSettings in the config.'),
      rule: `guardrail:postgres:allowlist:setting:${v.name}`,
    };
  }
  return null;
}

const STATEMENT_NAMES: Readonly<Record<string, string>> = {
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DeclareCursorStmt: 'DECLARE … CURSOR',
  FetchStmt: 'FETCH or MOVE',
  CheckPointStmt: 'CHECKPOINT',
  SecLabelStmt: 'SECURITY LABEL',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
};

const STATEMENT_REASONS: Readonly<Record<string, string>> = {
  PrepareStmt: 'the rows of a prepared statement come back at EXECUTE, where Airlock cannot apply the masking it decided now',
  ExecuteStmt: 'the rows come from a statement prepared earlier, which Airlock cannot mask here',
  DeclareCursorStmt: 'the rows come back at FETCH, where Airlock cannot apply the masking it decided now',
  FetchStmt: 'the rows come from a cursor declared earlier, which Airlock cannot mask here',
  CheckPointStmt: 'it administers the database server',
  SecLabelStmt: 'it changes security labels that Airlock does not manage',
  ImportForeignSchemaStmt: 'it reaches into another server',
};

/**
 * Relations refused whatever the rules say: statistics (histograms and most common values of every column), other
 * sessions' statement text, large objects, and password hashes. Matched by name in any schema (`pg_stat_statements`
 * lives where its extension was installed).
 */
export const FORBIDDEN_RELATIONS: ReadonlyMap<string, string> = new Map([
  // pg_statistic_ext holds only the definitions of extended statistics (psql's \d reads it); their values are in _data
  ...['pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_statistic', 'pg_statistic_ext_data'].map(
    (r): [string, string] => [r, 'holds statistics of column values (most common values, histograms), which would reveal masked data'],
  ),
  ...['pg_stat_activity', 'pg_stat_statements', 'pg_stat_statements_info'].map(
    (r): [string, string] => [r, 'holds the statement text of other sessions, with the values written in it'],
  ),
  ...['pg_largeobject', 'pg_largeobject_metadata'].map((r): [string, string] => [r, 'holds large objects, which Airlock cannot mask']),
  ...['pg_authid', 'pg_shadow', 'pg_user_mapping', 'pg_user_mappings'].map((r): [string, string] => [r, 'holds credentials']),
]);

/**
 * Snowflake schemas refused whatever the rules say: the shared SNOWFLAKE database's usage views hold every session's
 * statement text (with the values written in it), access and login history. Matched by schema name, since the
 * analysis reports a relation by schema and table.
 */
export const SNOWFLAKE_FORBIDDEN_SCHEMAS: ReadonlySet<string> = new Set([
  'ACCOUNT_USAGE',
  'ORGANIZATION_USAGE',
  'READER_ACCOUNT_USAGE',
  'DATA_SHARING_USAGE',
  'MONITORING',
  'TELEMETRY',
]);

/**
 * A relation refused whatever the rules say, a system relation that is not on the metadata allow-list
 * (`allowlists/postgres-catalog.ts`, plus `guardrails.allowCatalogRelations`), or one the catalogue does not know (so
 * its columns cannot be masked).
 */
export function relationViolation(
  analysis: Analysis,
  unknownRelations: readonly TableRef[] = [],
  allowCatalogRelations: readonly string[] = [],
): GuardrailViolation | null {
  if (analysis.dialect === 'snowflake') {
    const t = analysis.tables.find((x) => SNOWFLAKE_FORBIDDEN_SCHEMAS.has(x.schema.toUpperCase()));
    if (t === undefined) return null;
    return {
      code: 'policy.forbidden_relation',
      message:
        `reading ${t.schema}.${t.table} is not allowed through Airlock: Snowflake's usage views hold other sessions' statement text ` +
        'and access history, with the values written in them. Query the tables themselves.',
      rule: `guardrail:snowflake:relation:${t.schema.toLowerCase()}`,
    };
  }
  if (analysis.dialect !== 'postgres') return null;
  for (const t of analysis.tables) {
    const why = FORBIDDEN_RELATIONS.get(t.table.toLowerCase());
    if (why === undefined) continue;
    return {
      code: 'policy.forbidden_relation',
      message: `reading ${t.schema}.${t.table} is not allowed through Airlock: it ${why}. Query the tables themselves.`,
      rule: `guardrail:postgres:relation:${t.table.toLowerCase()}`,
    };
  }
  for (const t of analysis.tables) {
    if (!isSystemRelation(t) || catalogRelationAllowed(t, allowCatalogRelations)) continue;
    return {
      code: 'policy.forbidden_relation',
      message:
        `reading ${t.schema}.${t.table} is not allowed through Airlock: it is not on the metadata allow-list of catalog relations that describe objects ` +
        'without holding their values, statement text or credentials. Query the tables themselves; an operator can open it with guardrails.allowCatalogRelations in the config.',
      rule: `guardrail:postgres:relation:${t.table.toLowerCase()}`,
    };
  }
  const unknown = unknownRelations[0];
  if (unknown !== undefined) {
    return {
      code: 'policy.unknown_relation',
      message:
        `Airlock does not know the relation ${unknown.schema}.${unknown.table}, so it cannot tell which of its columns to mask; the statement is refused. ` +
        'Check the name; a table created moments ago is known once the catalogue refreshes (temporary tables are never known).',
      rule: 'guardrail:unknown_relation',
    };
  }
  return null;
}

/** All guardrails in order: statement count, deny list, allow-lists, relations, inference, masked copies. */
export function checkGuardrails(input: {
  analysis: Analysis;
  commands: readonly string[];
  maskedSources: readonly ColumnRef[];
  writtenSources?: readonly ColumnRef[];
  functions?: readonly string[];
  allowMultipleStatements?: boolean;
  extraDenied?: readonly DenyEntry[];
  facts?: AllowListFacts;
  allowLists?: AllowListConfig;
  unknownRelations?: readonly TableRef[];
  allowCatalogRelations?: readonly string[];
}): GuardrailViolation | null {
  return (
    multipleStatementsViolation(input.analysis, input.allowMultipleStatements) ??
    forbiddenViolation({ analysis: input.analysis, commands: input.commands, functions: input.functions, extra: input.extraDenied }) ??
    allowListViolation({ analysis: input.analysis, commands: input.commands, facts: input.facts, config: input.allowLists }) ??
    relationViolation(input.analysis, input.unknownRelations, input.allowCatalogRelations) ??
    inferenceViolation(input.analysis, input.maskedSources) ??
    copyViolation(input.writtenSources ?? [], input.maskedSources)
  );
}
