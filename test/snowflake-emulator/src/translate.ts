/**
 * The small, honest Snowflake → PostgreSQL translator for ordinary statements (queries, DML, table DDL). It rewrites
 * tokens, never parses the grammar: Snowflake spellings Airlock depends on become their PostgreSQL equivalents, and
 * everything else passes through so that PostgreSQL itself reports what it does not understand.
 */
import { SnowflakeError, sfErrors } from './errors.js';
import { identName, kw, pgIdent, quoteIdent, tokenize, unquoteString, type Token } from './sql-tokens.js';

/** Snowflake types that PostgreSQL cannot tell apart in result metadata; recorded as column comments. */
export type MarkedType = 'TIMESTAMP_TZ' | 'OBJECT' | 'ARRAY';
export const COLUMN_MARKER_PREFIX = 'sfemu:';

export type StatementKind = 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'ddl' | 'tcl' | 'other';

export interface Translation {
  /** PostgreSQL text with $n placeholders. */
  text: string;
  /** Number of distinct placeholders. */
  paramCount: number;
  kind: StatementKind;
  /** Statements to run first in the same transaction (CREATE OR REPLACE TABLE drops the old table). */
  before: string[];
  /** Statements to run after (column markers for TIMESTAMP_TZ/OBJECT/ARRAY columns). */
  after: string[];
  /** The status text a DDL statement answers with. */
  status: string;
}

export interface TranslateContext {
  /** The emulated Snowflake database name; `DB.PUBLIC.T` loses its `DB.` qualifier. */
  database: string;
}

/** Session-scoped functions, installed by the store in schema _sfemu_fn and reading transaction-local settings. */
const FUNCTION_RENAMES: Record<string, string> = {
  CURRENT_ROLE: '_sfemu_fn."current_role"',
  CURRENT_USER: '_sfemu_fn."current_user"',
  CURRENT_DATABASE: '_sfemu_fn."current_database"',
  CURRENT_WAREHOUSE: '_sfemu_fn."current_warehouse"',
  CURRENT_SCHEMA: '_sfemu_fn."current_schema"',
  CURRENT_ACCOUNT: '_sfemu_fn."current_account"',
  CURRENT_SESSION: '_sfemu_fn."current_session"',
  PARSE_JSON: '_sfemu_fn.parse_json',
  TRY_PARSE_JSON: '_sfemu_fn.try_parse_json',
  IFF: '_sfemu_fn.iff',
  ARRAY_CONSTRUCT: 'jsonb_build_array',
  OBJECT_CONSTRUCT: 'jsonb_build_object',
  TO_VARIANT: 'to_jsonb',
  NVL: 'coalesce',
  IFNULL: 'coalesce',
  LEN: 'length',
  NVL2: '_sfemu_fn.nvl2',
  ZEROIFNULL: '_sfemu_fn.zeroifnull',
  LISTAGG: '_sfemu_fn.listagg',
  TO_NUMBER: '_sfemu_fn.to_number',
  TO_DECIMAL: '_sfemu_fn.to_number',
  TO_NUMERIC: '_sfemu_fn.to_number',
  TO_DOUBLE: '_sfemu_fn.to_double',
  TRY_TO_NUMBER: '_sfemu_fn.try_to_number',
  TRY_TO_DECIMAL: '_sfemu_fn.try_to_number',
  TRY_TO_NUMERIC: '_sfemu_fn.try_to_number',
  TRY_TO_DATE: '_sfemu_fn.try_to_date',
  UUID_STRING: '_sfemu_fn.uuid_string',
  FLATTEN: '_sfemu_fn.flatten',
  ARRAY_AGG: 'jsonb_agg',
  OBJECT_AGG: 'jsonb_object_agg',
};

/** PostgreSQL rejects `CURRENT_TIMESTAMP()`; these take the bare keyword there. */
const PARENLESS = new Set(['CURRENT_TIMESTAMP', 'CURRENT_DATE', 'CURRENT_TIME', 'LOCALTIMESTAMP', 'LOCALTIME']);

interface TypeMapping {
  pg: string;
  /** Drop a following `(n)` argument (PostgreSQL has no length for bytea). */
  dropArgs?: boolean;
  /** Clamp a following `(n)` to PostgreSQL's maximum fractional-second precision. */
  clampPrecision?: boolean;
  marker?: MarkedType;
  /** The bare name means NUMBER(38,0). */
  defaultArgs?: string;
}

const TYPES: Record<string, TypeMapping> = {
  NUMBER: { pg: 'numeric', defaultArgs: '(38,0)' },
  DECIMAL: { pg: 'numeric', defaultArgs: '(38,0)' },
  NUMERIC: { pg: 'numeric', defaultArgs: '(38,0)' },
  TINYINT: { pg: 'smallint' },
  BYTEINT: { pg: 'smallint' },
  FLOAT: { pg: 'double precision', dropArgs: true },
  FLOAT4: { pg: 'double precision' },
  FLOAT8: { pg: 'double precision' },
  REAL: { pg: 'double precision' },
  STRING: { pg: 'text' },
  BINARY: { pg: 'bytea', dropArgs: true },
  VARBINARY: { pg: 'bytea', dropArgs: true },
  DATETIME: { pg: 'timestamp', clampPrecision: true },
  TIMESTAMP: { pg: 'timestamp', clampPrecision: true },
  TIMESTAMP_NTZ: { pg: 'timestamp', clampPrecision: true },
  TIMESTAMP_LTZ: { pg: 'timestamptz', clampPrecision: true },
  TIMESTAMP_TZ: { pg: 'timestamptz', clampPrecision: true, marker: 'TIMESTAMP_TZ' },
  TIME: { pg: 'time', clampPrecision: true },
  VARIANT: { pg: 'jsonb' },
  OBJECT: { pg: 'jsonb', marker: 'OBJECT' },
  ARRAY: { pg: 'jsonb', marker: 'ARRAY' },
};

interface Sig {
  /** Index into the full token list. */
  at: number;
  tok: Token;
}

/** Translate one Snowflake statement. Throws SnowflakeError for what the emulator deliberately refuses. */
export function translate(sql: string, ctx: TranslateContext): Translation {
  const tokens = tokenize(sql);
  const out = tokens.map((t) => t.text);
  const sig: Sig[] = [];
  tokens.forEach((tok, at) => {
    if (tok.kind !== 'ws') sig.push({ at, tok });
  });
  // A trailing semicolon is common in agent SQL; PostgreSQL's extended protocol refuses it.
  while (sig.length > 0 && sig[sig.length - 1].tok.text === ';') {
    out[sig[sig.length - 1].at] = '';
    sig.pop();
  }
  if (sig.some((s) => s.tok.text === ';')) {
    throw new SnowflakeError(
      '000008',
      'Actual statement count 2 did not match the desired statement count 1.',
      '0A000',
    );
  }

  rewriteSnowflakeForms(sig, out, ctx);
  const analysis = analyse(sig);
  const before: string[] = [];
  const after: string[] = [];
  const isTableDdl = analysis.verb === 'CREATE' || analysis.verb === 'ALTER';
  const markers: Array<{ column: string; type: MarkedType }> = [];

  // CREATE OR REPLACE TABLE and TRANSIENT tables have no PostgreSQL spelling; rewrite the prefix.
  if (analysis.verb === 'CREATE') {
    for (let k = 1; k < analysis.objectIndex; k++) {
      const word = kw(sig[k].tok);
      if (word === 'TRANSIENT' || word === 'VOLATILE') out[sig[k].at] = '';
      if (word === 'OR' && analysis.objectType === 'TABLE') {
        out[sig[k].at] = '';
        out[sig[k + 1].at] = '';
        before.push(`DROP TABLE IF EXISTS ${analysis.pgName}`);
      }
    }
  }

  let paramSeq = 0;
  let paramMax = 0;
  const parenStack: string[] = [];
  for (let s = 0; s < sig.length; s++) {
    const { at, tok } = sig[s];
    const prev = sig[s - 1]?.tok;
    const next = sig[s + 1]?.tok;
    if (tok.kind === 'param') {
      const n = tok.text === '?' ? ++paramSeq : Number(tok.text.slice(1));
      paramMax = Math.max(paramMax, n);
      out[at] = `$${n}`;
      continue;
    }
    if (tok.text === '(') {
      parenStack.push(kw(prev));
      continue;
    }
    if (tok.text === ')') {
      parenStack.pop();
      continue;
    }
    if (tok.kind !== 'ident' && tok.kind !== 'qident') continue;
    const word = kw(tok);
    const qualified = prev?.text === '.';

    // DB.PUBLIC.T → PUBLIC.T: the emulated database is the PostgreSQL database itself.
    if (!qualified && next?.text === '.' && sig[s + 3]?.tok.text === '.' && identName(tok).toUpperCase() === ctx.database.toUpperCase()) {
      out[at] = '';
      out[sig[s + 1].at] = '';
      continue;
    }
    // INFORMATION_SCHEMA.X → the emulator's views, which answer in Snowflake's names and types (as the role sees them)
    if (next?.text === '.' && identName(tok) === 'INFORMATION_SCHEMA') {
      out[at] = '_sfemu_info';
      continue;
    }
    if (tok.kind === 'qident' && tok.text === '"PUBLIC"' && next?.text === '.') {
      out[at] = 'public';
      continue;
    }
    if (tok.kind !== 'ident' || qualified) continue;

    if (next?.text === '(') {
      if (FUNCTION_RENAMES[word]) {
        out[at] = FUNCTION_RENAMES[word];
        continue;
      }
      if (PARENLESS.has(word) && sig[s + 2]?.tok.text === ')') {
        out[sig[s + 1].at] = '';
        out[sig[s + 2].at] = '';
        s += 2;
        continue;
      }
      if (word === 'SYSDATE' && sig[s + 2]?.tok.text === ')') {
        out[at] = "(now() AT TIME ZONE 'UTC')";
        out[sig[s + 1].at] = '';
        out[sig[s + 2].at] = '';
        s += 2;
        continue;
      }
    }

    const mapping = TYPES[word];
    if (!mapping) continue;
    if (word === 'ARRAY' && (next?.text === '[' || next?.text === '(')) continue;
    const inCast = prev?.text === '::' || (kw(prev) === 'AS' && ['CAST', 'TRY_CAST'].includes(parenStack[parenStack.length - 1] ?? ''));
    const isColumnType =
      isTableDdl && (prev?.kind === 'ident' || prev?.kind === 'qident') && analysis.objectType === 'TABLE' && kw(prev) !== 'AS';
    const isAlterType = isTableDdl && kw(prev) === 'TYPE';
    if (!inCast && !isColumnType && !isAlterType) continue;
    out[at] = mapping.pg;
    if (next?.text === '(' && (mapping.dropArgs || mapping.clampPrecision)) {
      const close = sig.findIndex((x, k) => k > s && x.tok.text === ')');
      if (close > 0) {
        if (mapping.dropArgs) {
          for (let k = s + 1; k <= close; k++) out[sig[k].at] = '';
        } else {
          for (let k = s + 2; k < close; k++) {
            if (sig[k].tok.kind === 'number') out[sig[k].at] = String(Math.min(6, Number(sig[k].tok.text)));
          }
        }
        s = close;
      }
    } else if (next?.text !== '(' && mapping.defaultArgs) {
      out[at] = mapping.pg + mapping.defaultArgs;
    }
    const before2 = sig[s - 2]?.tok.text;
    if (mapping.marker && isColumnType && (before2 === '(' || before2 === ',')) {
      markers.push({ column: pgIdent(prev as Token), type: mapping.marker });
    }
  }

  if (analysis.verb === 'CREATE' && analysis.objectType === 'TABLE') {
    for (const m of markers) {
      after.push(`COMMENT ON COLUMN ${analysis.pgName}.${m.column} IS '${COLUMN_MARKER_PREFIX}${m.type}'`);
    }
  }

  return {
    text: out.join('').trim(),
    paramCount: paramMax,
    kind: analysis.kind,
    before,
    after,
    status: analysis.status,
  };
}

interface Analysis {
  verb: string;
  kind: StatementKind;
  objectType: string;
  objectIndex: number;
  pgName: string;
  status: string;
}

const DDL_VERBS = new Set(['CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'COMMENT', 'GRANT', 'REVOKE']);
const OBJECT_TYPES = new Set(['TABLE', 'VIEW', 'SCHEMA', 'SEQUENCE', 'INDEX', 'FUNCTION', 'DATABASE', 'MATERIALIZED', 'TYPE', 'PROCEDURE']);

/** Statement kind, and for CREATE/DROP the object and the status line Snowflake answers with. */
function analyse(sig: Sig[]): Analysis {
  const verb = kw(sig[0]?.tok);
  const result: Analysis = { verb, kind: 'other', objectType: '', objectIndex: 0, pgName: '', status: 'Statement executed successfully.' };
  if (verb === 'SELECT' || verb === 'WITH' || verb === 'VALUES' || verb === 'TABLE' || verb === 'EXPLAIN') result.kind = 'select';
  else if (verb === 'INSERT') result.kind = 'insert';
  else if (verb === 'UPDATE') result.kind = 'update';
  else if (verb === 'DELETE') result.kind = 'delete';
  else if (verb === 'MERGE') result.kind = 'merge';
  else if (verb === 'BEGIN' || verb === 'START' || verb === 'COMMIT' || verb === 'ROLLBACK') result.kind = 'tcl';
  else if (DDL_VERBS.has(verb)) result.kind = 'ddl';
  if (sig.length === 0) throw sfErrors.syntax('Empty SQL statement.');
  if (verb !== 'CREATE' && verb !== 'DROP') return result;

  let k = 1;
  while (k < sig.length && !OBJECT_TYPES.has(kw(sig[k].tok))) k++;
  if (k >= sig.length) return result;
  result.objectIndex = k;
  result.objectType = kw(sig[k].tok) === 'MATERIALIZED' ? 'VIEW' : kw(sig[k].tok);
  k++;
  if (kw(sig[k]?.tok) === 'VIEW') k++;
  if (kw(sig[k]?.tok) === 'IF') k += kw(sig[k + 1]?.tok) === 'NOT' ? 3 : 2;
  // Qualified name: collect ident . ident . ident
  const parts: Token[] = [];
  while (k < sig.length && (sig[k].tok.kind === 'ident' || sig[k].tok.kind === 'qident')) {
    parts.push(sig[k].tok);
    if (sig[k + 1]?.tok.text === '.') k += 2;
    else break;
  }
  if (parts.length === 0) return result;
  const last = parts[parts.length - 1];
  const display = identName(last);
  const schema = parts.length >= 2 ? pgIdent(parts[parts.length - 2]) : quoteIdent('public');
  result.pgName = `${schema === '"public"' ? 'public' : schema}.${pgIdent(last)}`;
  const label = result.objectType.charAt(0) + result.objectType.slice(1).toLowerCase();
  result.status = verb === 'CREATE' ? `${label} ${display} successfully created.` : `${display} successfully dropped.`;
  return result;
}

/** The index in `sig` of the parenthesis closing the one at `open`, or -1. */
function closeOf(sig: Sig[], open: number): number {
  let depth = 0;
  for (let k = open; k < sig.length; k++) {
    const t = sig[k].tok.text;
    if (t === '(') depth++;
    else if (t === ')' && --depth === 0) return k;
  }
  return -1;
}

/** The PostgreSQL spelling of a Snowflake object name given as text (`'db.public.customers'`, `'"CUSTOMERS"'`). */
function pgNameOfText(text: string, ctx: TranslateContext): string | undefined {
  const parts = tokenize(text.trim()).filter((t) => t.kind !== 'ws');
  const names: Token[] = [];
  for (let k = 0; k < parts.length; k++) {
    const t = parts[k];
    if (k % 2 === 1) {
      if (t.text !== '.') return undefined;
      continue;
    }
    if (t.kind !== 'ident' && t.kind !== 'qident') return undefined;
    names.push(t);
  }
  if (names.length === 0 || names.length > 3 || parts.length % 2 === 0) return undefined;
  if (names.length === 3) {
    if (identName(names[0]).toUpperCase() !== ctx.database.toUpperCase()) return undefined;
    names.shift();
  }
  return names.map(pgIdent).join('.');
}

/**
 * Snowflake spellings with no token-for-token PostgreSQL equivalent, rewritten in place before the main pass:
 * quoted upper-case names (PostgreSQL stores Snowflake's upper-case names in lower case), `TABLE('t')` and
 * `IDENTIFIER('t')`, `TABLE(fn(…))`, `GENERATOR(ROWCOUNT => n)`, `SEQ1/2/4/8()`, `DECODE(…)`, `SAMPLE` and `SELECT TOP n`.
 */
function rewriteSnowflakeForms(sig: Sig[], out: string[], ctx: TranslateContext): void {
  for (let s = 0; s < sig.length; s++) {
    const { at, tok } = sig[s];
    const next = sig[s + 1]?.tok;
    const word = kw(tok);
    if (tok.kind === 'qident') {
      out[at] = pgIdent(tok);
      continue;
    }
    const before = kw(sig[s - 1]?.tok);
    if (tok.text === '(' && (before === 'FROM' || before === 'JOIN' || sig[s - 1]?.tok.text === ',')) {
      // `FROM (customers) c`: PostgreSQL reads no parentheses around a plain table name
      const close = closeOf(sig, s);
      const inner = sig.slice(s + 1, close);
      const plain = close > s + 1 && inner.every((x) => x.tok.kind === 'ident' || x.tok.kind === 'qident' || x.tok.text === '.');
      const isQuery = ['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(kw(inner[0]?.tok));
      if (plain && !isQuery) {
        out[at] = ' ';
        out[sig[close].at] = ' ';
      }
      continue;
    }
    if (tok.kind !== 'ident' || sig[s - 1]?.tok.text === '.') continue;
    if (word === 'TOP' && s === 1 && kw(sig[0].tok) === 'SELECT' && next?.kind === 'number' && !sig.some((x) => kw(x.tok) === 'LIMIT')) {
      // SELECT TOP n … → SELECT … LIMIT n
      out[at] = '';
      out[sig[s + 1].at] = '';
      out[sig[sig.length - 1].at] += ` LIMIT ${next.text}`;
      s += 1;
      continue;
    }
    if ((word === 'TABLE' || word === 'IDENTIFIER') && next?.text === '(' && sig[s + 2]?.tok.kind === 'string' && sig[s + 3]?.tok.text === ')') {
      const name = pgNameOfText(unquoteString(sig[s + 2].tok.text), ctx);
      if (name === undefined) throw sfErrors.syntax(`invalid identifier ${sig[s + 2].tok.text}`);
      out[at] = name;
      for (let k = s + 1; k <= s + 3; k++) out[sig[k].at] = '';
      s += 3;
      continue;
    }
    if (word === 'TABLE' && next?.text === '(' && sig[s + 2]?.tok.kind === 'ident') {
      // TABLE(fn(…)): PostgreSQL calls set-returning functions in FROM directly
      const close = closeOf(sig, s + 1);
      if (close > 0) {
        out[at] = '';
        out[sig[s + 1].at] = '';
        out[sig[close].at] = '';
      }
      continue;
    }
    if (word === 'GENERATOR' && next?.text === '(' && kw(sig[s + 2]?.tok) === 'ROWCOUNT' && sig[s + 3]?.tok.text === '=>') {
      out[at] = 'generate_series';
      out[sig[s + 2].at] = '1';
      out[sig[s + 3].at] = ',';
      continue;
    }
    if (/^SEQ[1248]$/.test(word) && next?.text === '(' && sig[s + 2]?.tok.text === ')') {
      out[at] = '(row_number() OVER () - 1)';
      out[sig[s + 1].at] = '';
      out[sig[s + 2].at] = '';
      s += 2;
      continue;
    }
    if (word === 'DECODE' && next?.text === '(') {
      // DECODE(e, s1, r1, …, [default]) → (CASE e WHEN s1 THEN r1 … [ELSE default] END); NULL never matches NULL here
      const close = closeOf(sig, s + 1);
      if (close < 0) continue;
      const commas: number[] = [];
      let depth = 0;
      for (let k = s + 2; k < close; k++) {
        const t = sig[k].tok.text;
        if (t === '(') depth++;
        else if (t === ')') depth--;
        else if (t === ',' && depth === 0) commas.push(k);
      }
      if (commas.length < 2) continue;
      out[at] = '(CASE';
      out[sig[s + 1].at] = ' ';
      const hasDefault = commas.length % 2 === 1;
      commas.forEach((k, i) => {
        if (hasDefault && i === commas.length - 1) out[sig[k].at] = ' ELSE ';
        else out[sig[k].at] = i % 2 === 0 ? ' WHEN ' : ' THEN ';
      });
      out[sig[close].at] = ' END)';
      continue;
    }
    if ((word === 'SAMPLE' || word === 'TABLESAMPLE') && (sig[s - 1]?.tok.kind === 'ident' || sig[s - 1]?.tok.kind === 'qident')) {
      const method = kw(next);
      if (next?.text === '(') out[at] = 'TABLESAMPLE BERNOULLI';
      else if (method === 'BERNOULLI' || method === 'ROW' || method === 'SYSTEM' || method === 'BLOCK') {
        out[at] = 'TABLESAMPLE';
        out[sig[s + 1].at] = method === 'SYSTEM' || method === 'BLOCK' ? 'SYSTEM' : 'BERNOULLI';
      }
    }
  }
}
