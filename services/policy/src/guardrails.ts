/**
 * Pure checks that refuse a statement before any policy rule is consulted. Each returns the first violation or null.
 * Messages name functions, commands and columns (identifiers), never a constant from the statement: a literal in a
 * WHERE clause could itself be a secret.
 */
import type { Analysis, ColumnRef, ColumnUsageClause, Dialect } from '@airlock/contracts';
import { lexicalFunctions } from './analysis/commands.js';
import { globPattern } from './masking-plan.js';

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
 * `DO` blocks (code Airlock cannot see), `LOAD` and `ALTER SYSTEM`.
 * Snowflake: `RESULT_SCAN` (reads another statement's unmasked result), `SYSTEM$*`, `USE ROLE`, `USE SECONDARY ROLES`,
 * `ALTER SESSION`, `EXECUTE IMMEDIATE`, `EXECUTE TASK`, `CALL`, `COPY INTO`, `GET`, `PUT`, `REMOVE`, `CREATE STAGE`,
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
  { dialect: 'snowflake', kind: 'function', pattern: 'result_scan', reason: 'reads the result of another statement, which Airlock did not mask' },
  { dialect: 'snowflake', kind: 'function', pattern: 'system$*', reason: 'calls a Snowflake system function' },
  { dialect: 'snowflake', kind: 'command', pattern: 'use role', reason: ROLE },
  { dialect: 'snowflake', kind: 'command', pattern: 'use secondary roles', reason: ROLE },
  { dialect: 'snowflake', kind: 'command', pattern: 'alter session', reason: SESSION },
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
};

const CLAUSE_PLACE: Readonly<Record<ColumnUsageClause, string>> = {
  where: 'WHERE clause',
  join: 'join condition',
  group: 'GROUP BY',
  having: 'HAVING clause',
  order: 'ORDER BY',
  window: 'window definition',
};

function displayName(c: ColumnRef): string {
  return c.schema === 'public' ? `${c.table}.${c.column}` : `${c.schema}.${c.table}.${c.column}`;
}

function sameColumn(a: ColumnRef, b: ColumnRef): boolean {
  return a.schema === b.schema && a.table === b.table && (a.column === b.column || a.column === '*' || b.column === '*');
}

/** The first use of a masked column where its values could be inferred: WHERE, JOIN, GROUP BY, HAVING, ORDER BY, window. */
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

/** All guardrails in order: statement count, deny list, inference, masked copies. */
export function checkGuardrails(input: {
  analysis: Analysis;
  commands: readonly string[];
  maskedSources: readonly ColumnRef[];
  writtenSources?: readonly ColumnRef[];
  functions?: readonly string[];
  allowMultipleStatements?: boolean;
  extraDenied?: readonly DenyEntry[];
}): GuardrailViolation | null {
  return (
    multipleStatementsViolation(input.analysis, input.allowMultipleStatements) ??
    forbiddenViolation({ analysis: input.analysis, commands: input.commands, functions: input.functions, extra: input.extraDenied }) ??
    inferenceViolation(input.analysis, input.maskedSources) ??
    copyViolation(input.writtenSources ?? [], input.maskedSources)
  );
}
