import { createHash } from 'node:crypto';
import sqlParser from 'node-sql-parser';
import type { Analysis, ColumnUsage, OutputColumn, StatementKind, TableRef } from '@airlock/contracts';
import type { Catalog } from './catalog.js';
import { SqlParseError } from './errors.js';
import { type AstNode, canonicalJson, isNode } from './snowflake/ast.js';
import { StatementAnalyzer, type StatementResult } from './snowflake/analyzer.js';
import { classifyByKeywords, kindHint } from './snowflake/fallback.js';
import { keyword, splitStatements, type StatementText, type Token, tokenize } from './snowflake/lexer.js';

// One error class for both dialects, so the policy service refuses unparseable SQL the same way whichever parser failed.
export { SqlParseError };

// The parser holds no per-call state between astify calls, so one instance serves every analysis.
const parser = new sqlParser.Parser();
const PARSE_OPTIONS = { database: 'snowflake', parseOptions: { includeLocations: true } };

interface Analysed {
  result: StatementResult;
  fingerprint: string;
}

/**
 * Analyses Snowflake SQL: statement kinds, tables, the lineage of every output column, the columns used to filter, join,
 * group or sort, and the functions called. Throws `SqlParseError` for what it cannot read, so that callers fail closed.
 */
export function analyzeSnowflake(sql: string, catalog: Catalog): Analysis {
  return inspectSnowflake(sql, catalog).analysis;
}

/**
 * The analysis, and per output column whether it is a source column's own value passed through unchanged (a plain
 * reference or alias, also through subqueries and CTEs), for which a format-preserving or hash mask is safe.
 */
export function inspectSnowflake(sql: string, catalog: Catalog): { analysis: Analysis; direct: boolean[] } {
  const statements = splitStatements(sql);
  if (statements.length === 0) {
    throw new SqlParseError('The SQL text holds no statement: send one Snowflake statement to run.');
  }
  const analysed = statements.map((statement, i) => analyseStatement(statement, catalog, i + 1, statements.length));

  const tables = new Map<string, TableRef>();
  const usages = new Map<string, ColumnUsage>();
  const functions = new Set<string>();
  for (const { result } of analysed) {
    for (const t of result.tables) tables.set(JSON.stringify([t.schema, t.table, t.access]), t);
    for (const u of result.usages) usages.set(JSON.stringify([u.column, u.clause]), u);
    for (const f of result.functions) functions.add(f);
  }
  // One result set is described: the first statement's. The proxy runs one statement per call, so a text with several is
  // refused before its outputs matter; the other statements still contribute their tables, usages and functions.
  const outputColumns: OutputColumn[] = analysed[0].result.outputColumns.map(({ name, sources, exact }) => ({ name, sources, exact }));
  const direct = analysed[0].result.outputColumns.map((o) => o.direct);
  const kinds = analysed.map((a) => a.result.kind);
  const analysis: Analysis = {
    dialect: 'snowflake',
    statementCount: statements.length,
    kind: kinds[0],
    kinds,
    tables: [...tables.values()],
    outputColumns,
    usages: [...usages.values()],
    functions: [...functions],
    fingerprint: createHash('sha256')
      .update(analysed.length === 1 ? analysed[0].fingerprint : JSON.stringify(analysed.map((a) => a.fingerprint)))
      .digest('hex'),
    normalized: normalize(sql),
  };
  const transaction = kinds[0] === 'transaction' ? transactionOf(statements[0].tokens) : undefined;
  if (transaction !== undefined) analysis.transaction = transaction;
  return { analysis, direct };
}

/** What a transaction-control statement does: Snowflake has BEGIN / START TRANSACTION, COMMIT and ROLLBACK only. */
function transactionOf(tokens: Token[]): Analysis['transaction'] {
  switch (keyword(tokens[0])) {
    case 'BEGIN':
    case 'START':
      return 'begin';
    case 'COMMIT':
      return 'commit';
    case 'ROLLBACK':
      return 'rollback';
    default:
      return undefined;
  }
}

/** The text trimmed, without trailing semicolons: what approvals show and compare. */
function normalize(sql: string): string {
  return sql.trim().replace(/[\s;]+$/, '').trim();
}

function analyseStatement(statement: StatementText, catalog: Catalog, index: number, count: number): Analysed {
  const text = numberPlaceholders(rewriteDelete(statement));
  let parsed: AstNode[];
  try {
    const ast: unknown = parser.astify(text, PARSE_OPTIONS);
    parsed = (Array.isArray(ast) ? ast : [ast]).filter(isNode);
  } catch (err) {
    const fallback = classifyByKeywords(statement.tokens);
    if (fallback) return fallbackStatement(statement, fallback.kind, fallback.functions, fallback.explainedFrom, catalog);
    throw parseError(err, statement, index, count);
  }
  if (parsed.length !== 1) {
    throw new SqlParseError(
      `${where(index, count)} did not parse as exactly one statement; send one statement at a time.`,
      statement.offset,
    );
  }
  const result = new StatementAnalyzer(text, catalog).analyze(parsed[0]);
  return { result, fingerprint: canonicalJson({ ast: parsed[0], quoted: quotedIdents(statement.tokens) }) };
}

/**
 * Commands the grammar rejects but the keyword fallback recognises carry no lineage. `EXPLAIN` still reports the
 * tables and functions of the statement it explains when that statement parses, so policy can check them.
 */
function fallbackStatement(
  statement: StatementText,
  kind: StatementKind,
  functions: string[],
  explainedFrom: number | undefined,
  catalog: Catalog,
): Analysed {
  const empty: StatementResult = { kind, tables: [], outputColumns: [], usages: [], functions };
  const fingerprint = canonicalJson({ tokens: statement.tokens.map(tokenShape) });
  if (explainedFrom === undefined) return { result: empty, fingerprint };
  const inner = statement.text.slice(explainedFrom);
  try {
    const ast: unknown = parser.astify(inner, PARSE_OPTIONS);
    if (!isNode(ast)) return { result: empty, fingerprint };
    const explained = new StatementAnalyzer(inner, catalog).analyze(ast);
    return { result: { ...explained, kind, outputColumns: [] }, fingerprint };
  } catch {
    return { result: empty, fingerprint };
  }
}

/** Keywords and unquoted names are case-insensitive; quoted names, strings and numbers are kept exactly. */
function tokenShape(token: Token): [string, string] {
  return [token.type, token.type === 'word' ? token.value.toUpperCase() : token.value];
}

/**
 * The grammar drops the quotes of column names and aliases, so `"ssn"` and `ssn` give the same tree; the quoted names
 * in order go into the fingerprint to keep such statements apart.
 */
function quotedIdents(tokens: Token[]): string[] {
  return tokens.filter((t) => t.type === 'quoted').map((t) => t.value);
}

/**
 * node-sql-parser's Snowflake grammar only reads the multi-table form `DELETE t FROM t WHERE …`. The plain
 * `DELETE FROM t [[AS] a] [WHERE …]` is restated in that form by naming the target before FROM; the rest of the text,
 * conditions included, is parsed as written. `DELETE … USING` is left alone and fails closed.
 */
function rewriteDelete(statement: StatementText): string {
  const { text, tokens } = statement;
  if (keyword(tokens[0]) !== 'DELETE' || keyword(tokens[1]) !== 'FROM') return text;
  let i = 2;
  const nameStart = tokens[i]?.start;
  while (tokens[i] && (tokens[i].type === 'word' || tokens[i].type === 'quoted')) {
    if (tokens[i + 1]?.value !== '.') break;
    i += 2;
  }
  const nameToken = tokens[i];
  if (nameStart === undefined || !nameToken || (nameToken.type !== 'word' && nameToken.type !== 'quoted')) return text;
  let target = text.slice(nameStart, nameToken.end);
  i += 1;
  if (keyword(tokens[i]) === 'AS') i += 1;
  const aliasToken = tokens[i];
  if (aliasToken && (aliasToken.type === 'quoted' || (aliasToken.type === 'word' && keyword(aliasToken) !== 'WHERE'))) {
    target = text.slice(aliasToken.start, aliasToken.end);
    i += 1;
  }
  const next = tokens[i];
  if (next !== undefined && keyword(next) !== 'WHERE') return text;
  return `${text.slice(0, tokens[1].start)}${target} ${text.slice(tokens[1].start)}`;
}

/**
 * Drivers send bound statements with `?` placeholders, which the grammar does not read; Snowflake's own numbered form
 * `:1, :2, …` means the same and parses. Only bare `?` tokens are replaced, never one inside a string or quoted name.
 */
function numberPlaceholders(text: string): string {
  const marks = tokenize(text).filter((t) => t.type === 'punct' && t.value === '?');
  let out = '';
  let from = 0;
  marks.forEach((t, i) => {
    out += `${text.slice(from, t.start)}:${i + 1}`;
    from = t.end;
  });
  return out + text.slice(from);
}

function where(index: number, count: number): string {
  return count > 1 ? `Statement ${index} of ${count}` : 'The statement';
}

function parseError(err: unknown, statement: StatementText, index: number, count: number): SqlParseError {
  const hint = kindHint(statement.tokens);
  const raw = err instanceof Error ? err.message : String(err);
  const location = isNode(err) && isNode(err.location) && isNode(err.location.start) ? err.location.start : undefined;
  const offset = location && typeof location.offset === 'number' ? location.offset : undefined;
  const at =
    location && typeof location.line === 'number' && typeof location.column === 'number'
      ? ` at line ${location.line}, column ${location.column}`
      : '';
  // The parser lists every token it expected; the tail after "but" is the part a reader can act on.
  const found = /but (.*) found\.?$/.exec(raw)?.[1];
  const detail = found ? `unexpected ${found}` : raw.split('\n')[0].slice(0, 200);
  const what = hint ? `${hint.toUpperCase()} statement` : 'statement';
  return new SqlParseError(
    `${where(index, count)} cannot be analysed as Snowflake SQL (${what}${at}: ${detail}). ` +
      'Airlock runs only statements it can analyse: rewrite it in plainer SQL, or ask an approver to run it.',
    // The offset is into the parsed text; a rewritten DELETE is longer than what was sent, so it is only approximate there.
    statement.offset + (offset ?? 0),
  );
}
