/**
 * PostgreSQL statement analysis on the server's own parser (libpg-query, PostgreSQL 15): statement kinds, tables,
 * per-output-column lineage, columns used where they can leak by inference, functions called, and a fingerprint.
 *
 * Lineage decisions (the "why" behind the walker):
 * - A value in the select list derives from every column its expression mentions: function and operator arguments,
 *   cast operands, all CASE branches *and* conditions (a CASE over `ssn` reveals `ssn`), scalar and ANY/ALL subquery
 *   outputs, aggregate arguments, whole-row references (all columns of the row).
 * - Window PARTITION BY / ORDER BY, aggregate ORDER BY and FILTER are *usages* (clauses `window`, `order`, `where`),
 *   not sources: they order or select rows rather than produce the value, and the inference guard covers them.
 * - Whatever decides how many rows come back is a usage of clause `rows` (LIMIT/OFFSET/FETCH, TABLESAMPLE, FROM
 *   functions' arguments, set-returning functions in the select list, window frame bounds); whatever decides a
 *   branch is `condition` (CASE WHEN, COALESCE/NULLIF/GREATEST/LEAST, AND/OR); a value that reaches something that
 *   can fail on some values (a cast to anything but text, arithmetic, a function argument not listed as total) is
 *   `error`. Plain DISTINCT and aggregate DISTINCT group by their values (`group`).
 * - A column is `direct` when it is a source column passed through unchanged (plain reference, alias, derived table,
 *   CTE, scalar subquery, COLLATE, or a UNION whose arms are all direct or constant). Anything else is derived.
 * - When a reference cannot be resolved, the column is `exact: false` and its sources are every column of every
 *   table the statement touches (a table unknown to the catalogue contributes the wildcard column `*`).
 * - `*` over a relation whose columns are unknown yields one output column named `*`, `exact: false`.
 */
import { createHash } from 'node:crypto';
import { parseSync } from 'libpg-query';
import type { Analysis, ColumnRef, ColumnUsage, ColumnUsageClause, StatementKind, TableRef } from '@airlock/contracts';
import type { Catalog } from './catalog.js';
import { SqlParseError } from './errors.js';
import { functionClass } from '../allowlists/index.js';
import {
  POSTGRES_PATTERN_OPERATORS,
  POSTGRES_TOTAL_ARGS,
  POSTGRES_TOTAL_CASTS,
  POSTGRES_TOTAL_OPERATORS,
} from '../allowlists/postgres-functions.js';

// ---------------------------------------------------------------------------------------------------------------
// Typed access to the loosely typed parse tree

type Obj = { readonly [key: string]: unknown };

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}

/** A parse-tree node is `{ TypeName: body }`; returns both parts, or undefined for anything else. */
function unwrap(v: unknown): { type: string; body: Obj } | undefined {
  if (!isObj(v)) return undefined;
  let type: string | undefined;
  for (const key in v) {
    if (type !== undefined) return undefined;
    type = key;
  }
  if (type === undefined) return undefined;
  const body = v[type];
  const first = type.charCodeAt(0);
  if (!isObj(body) || first < 65 || first > 90) return undefined;
  return { type, body };
}

/** The text of a `String` node (the parser omits empty strings, hence the default). */
function sval(v: unknown): string | undefined {
  const n = unwrap(v);
  return n?.type === 'String' ? (str(n.body.sval) ?? '') : undefined;
}

function names(v: unknown): string[] {
  const out: string[] = [];
  for (const item of list(v)) {
    const s = sval(item);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function aliasOf(body: Obj): { name: string | undefined; columns: string[] } {
  const alias = obj(body.alias);
  return { name: str(alias?.aliasname), columns: names(alias?.colnames) };
}

// ---------------------------------------------------------------------------------------------------------------
// Lineage model

interface Lineage {
  readonly sources: readonly ColumnRef[];
  /** the value is a source column passed through unchanged */
  readonly direct: boolean;
  readonly exact: boolean;
  /** a reference could not be resolved: the final output gets every column the statement reads */
  readonly unresolved: boolean;
}

const CONSTANT: Lineage = Object.freeze({ sources: [], direct: true, exact: true, unresolved: false });
const UNRESOLVED: Lineage = Object.freeze({ sources: [], direct: false, exact: false, unresolved: true });

function refKey(c: ColumnRef): string {
  return `${c.schema}\u0000${c.table}\u0000${c.column}`;
}

function dedupe(refs: Iterable<ColumnRef>): ColumnRef[] {
  const seen = new Map<string, ColumnRef>();
  for (const r of refs) {
    const k = refKey(r);
    if (!seen.has(k)) seen.set(k, r);
  }
  return [...seen.values()];
}

/** Union of lineages; `direct` survives only when the caller says the combination passes values through. */
function combine(parts: readonly Lineage[], passThrough: boolean): Lineage {
  if (parts.length === 1 && passThrough) return parts[0];
  const sources: ColumnRef[] = [];
  let direct = passThrough;
  let exact = true;
  let unresolved = false;
  for (const p of parts) {
    sources.push(...p.sources);
    direct &&= p.direct;
    exact &&= p.exact;
    unresolved ||= p.unresolved;
  }
  return { sources: dedupe(sources), direct, exact, unresolved };
}

function derived(parts: readonly Lineage[]): Lineage {
  return combine(parts, false);
}

/** A column of a relation with known lineage. */
interface Column {
  readonly kind: 'column';
  readonly name: string;
  readonly lineage: Lineage;
}

/** Columns whose names and number are unknown (`*` over a table the catalogue does not know). */
interface Opaque {
  readonly kind: 'opaque';
  readonly sources: readonly ColumnRef[];
  readonly unresolved: boolean;
}

type Entry = Column | Opaque;

function entryLineage(e: Entry | undefined): Lineage {
  if (e === undefined) return UNRESOLVED;
  if (e.kind === 'column') return e.lineage;
  return { sources: e.sources, direct: false, exact: false, unresolved: e.unresolved };
}

function rename(entries: readonly Entry[], columns: readonly string[]): Entry[] {
  if (columns.length === 0) return [...entries];
  return entries.map((e, i) => (i < columns.length && e.kind === 'column' ? { ...e, name: columns[i] } : e));
}

/** A name visible for qualified references (`alias.column`). */
interface Range {
  readonly name: string;
  /** set for an unaliased table, so `schema.table.column` resolves */
  readonly schema: string | null;
  readonly entries: readonly Entry[];
  /** set for a table the catalogue does not know: its columns are attributed by name */
  readonly base: { schema: string; table: string } | null;
}

/** One FROM-list item: the ranges it makes visible, and its columns in `*` order. */
interface FromItem {
  readonly ranges: readonly Range[];
  readonly entries: readonly Entry[];
}

interface Scope {
  readonly items: FromItem[];
  readonly parent: Scope | null;
}

type Ctes = ReadonlyMap<string, readonly Entry[]>;

const NO_CTES: Ctes = new Map();

/** Set-returning functions whose output shape is fixed, so `*` over them is exact. */
const FUNCTION_COLUMNS: Readonly<Record<string, readonly string[] | null>> = {
  generate_series: null,
  generate_subscripts: null,
  unnest: null,
  regexp_matches: null,
  regexp_split_to_table: null,
  string_to_table: null,
  json_array_elements: ['value'],
  json_array_elements_text: ['value'],
  jsonb_array_elements: ['value'],
  jsonb_array_elements_text: ['value'],
  json_object_keys: null,
  jsonb_object_keys: null,
  jsonb_path_query: null,
  json_each: ['key', 'value'],
  json_each_text: ['key', 'value'],
  jsonb_each: ['key', 'value'],
  jsonb_each_text: ['key', 'value'],
};

// ---------------------------------------------------------------------------------------------------------------
// Statement kinds

const KIND_BY_NODE: Readonly<Record<string, StatementKind>> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
  GrantStmt: 'grant',
  GrantRoleStmt: 'grant',
  AlterDefaultPrivilegesStmt: 'grant',
  TransactionStmt: 'transaction',
  VariableSetStmt: 'set',
  VariableShowStmt: 'show',
  ExplainStmt: 'explain',
  CopyStmt: 'copy',
  CallStmt: 'call',
  DoStmt: 'call',
  // DDL whose node names do not start with Create/Alter/Drop
  RenameStmt: 'ddl',
  TruncateStmt: 'ddl',
  CommentStmt: 'ddl',
  IndexStmt: 'ddl',
  ViewStmt: 'ddl',
  RuleStmt: 'ddl',
  DefineStmt: 'ddl',
  CompositeTypeStmt: 'ddl',
  SecLabelStmt: 'ddl',
  ReassignOwnedStmt: 'ddl',
  RefreshMatViewStmt: 'ddl',
  ImportForeignSchemaStmt: 'ddl',
  // session and maintenance commands
  VacuumStmt: 'utility',
  ClusterStmt: 'utility',
  ReindexStmt: 'utility',
  CheckPointStmt: 'utility',
  DiscardStmt: 'utility',
  LockStmt: 'utility',
  ListenStmt: 'utility',
  UnlistenStmt: 'utility',
  NotifyStmt: 'utility',
  LoadStmt: 'utility',
  PrepareStmt: 'utility',
  ExecuteStmt: 'utility',
  DeallocateStmt: 'utility',
  DeclareCursorStmt: 'utility',
  FetchStmt: 'utility',
  ClosePortalStmt: 'utility',
  ConstraintsSetStmt: 'utility',
};

const MODIFYING: ReadonlySet<StatementKind> = new Set<StatementKind>(['insert', 'update', 'delete', 'merge']);

function hasInto(select: Obj): boolean {
  if (select.intoClause !== undefined) return true;
  const larg = obj(select.larg);
  return larg !== undefined && hasInto(larg);
}

/** Whether an EXPLAIN runs its statement (ANALYZE without a false argument). */
function explainExecutes(body: Obj): boolean {
  for (const o of list(body.options)) {
    const d = unwrap(o);
    if (d?.type !== 'DefElem' || str(d.body.defname) !== 'analyze') continue;
    const arg = unwrap(d.body.arg);
    if (arg === undefined) return true;
    if (arg.type === 'String') return !['false', 'off', '0', 'no'].includes((str(arg.body.sval) ?? '').toLowerCase());
    if (arg.type === 'Boolean') return arg.body.boolval === true;
    if (arg.type === 'Integer') return arg.body.ival !== undefined && arg.body.ival !== 0;
    return true;
  }
  return false;
}

/**
 * The kind of one top-level statement. `SELECT … INTO` is DDL; a SELECT whose WITH holds a data-modifying CTE takes
 * the kind of that CTE; an `EXPLAIN ANALYZE` of a modifying statement or of DDL takes that statement's kind, because
 * it executes it.
 */
export function statementKind(node: unknown): StatementKind {
  const n = unwrap(node);
  if (n === undefined) return 'other';
  if (n.type === 'SelectStmt') {
    if (hasInto(n.body)) return 'ddl';
    for (const cte of list(obj(n.body.withClause)?.ctes)) {
      const inner = statementKind(obj(unwrap(cte)?.body)?.ctequery);
      if (MODIFYING.has(inner)) return inner;
    }
    return 'select';
  }
  if (n.type === 'PrepareStmt' || n.type === 'DeclareCursorStmt') return statementKind(n.body.query);
  if (n.type === 'ExplainStmt') {
    const inner = statementKind(n.body.query);
    return explainExecutes(n.body) && (MODIFYING.has(inner) || inner === 'ddl') ? inner : 'explain';
  }
  const mapped = KIND_BY_NODE[n.type];
  if (mapped !== undefined) return mapped;
  if (/^(Create|Alter|Drop)/.test(n.type)) return 'ddl';
  return 'other';
}

// ---------------------------------------------------------------------------------------------------------------
// Output column names, as PostgreSQL's FigureColname computes them

const SVF_NAMES: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};

const XML_NAMES: Readonly<Record<string, string>> = {
  IS_XMLCONCAT: 'xmlconcat',
  IS_XMLELEMENT: 'xmlelement',
  IS_XMLFOREST: 'xmlforest',
  IS_XMLPARSE: 'xmlparse',
  IS_XMLPI: 'xmlpi',
  IS_XMLROOT: 'xmlroot',
  IS_XMLSERIALIZE: 'xmlserialize',
};

/** [name, strength]: strength 2 is a real name, 1 a fallback that a better name overrides (as in PostgreSQL). */
function figure(node: unknown): [string, number] | undefined {
  const n = unwrap(node);
  if (n === undefined) return undefined;
  const b = n.body;
  switch (n.type) {
    case 'ColumnRef': {
      const fields = list(b.fields);
      const last = sval(fields[fields.length - 1]);
      return last === undefined ? undefined : [last, 2];
    }
    case 'A_Indirection': {
      let field: string | undefined;
      for (const i of list(b.indirection)) field = sval(i) ?? field;
      return field !== undefined ? [field, 2] : figure(b.arg);
    }
    case 'FuncCall': {
      const fn = names(b.funcname);
      return fn.length > 0 ? [fn[fn.length - 1], 2] : undefined;
    }
    case 'A_Expr':
      return b.kind === 'AEXPR_NULLIF' ? ['nullif', 2] : undefined;
    case 'TypeCast': {
      const inner = figure(b.arg);
      if (inner !== undefined && inner[1] > 1) return inner;
      const typeNames = names(obj(b.typeName)?.names);
      return typeNames.length > 0 ? [typeNames[typeNames.length - 1], 1] : inner;
    }
    case 'CollateClause':
      return figure(b.arg);
    case 'GroupingFunc':
      return ['grouping', 2];
    case 'SubLink':
      switch (b.subLinkType) {
        case 'EXISTS_SUBLINK':
          return ['exists', 2];
        case 'ARRAY_SUBLINK':
          return ['array', 2];
        case 'EXPR_SUBLINK':
          return [firstTargetName(b.subselect), 2];
        default:
          return undefined;
      }
    case 'CaseExpr': {
      const inner = figure(b.defresult);
      return inner !== undefined && inner[1] > 1 ? inner : ['case', 1];
    }
    case 'A_ArrayExpr':
      return ['array', 2];
    case 'RowExpr':
      return ['row', 2];
    case 'CoalesceExpr':
      return ['coalesce', 2];
    case 'MinMaxExpr':
      return [b.op === 'IS_GREATEST' ? 'greatest' : 'least', 2];
    case 'SQLValueFunction': {
      const name = SVF_NAMES[str(b.op) ?? ''];
      return name === undefined ? undefined : [name, 2];
    }
    case 'XmlExpr': {
      const name = XML_NAMES[str(b.op) ?? ''];
      return name === undefined ? undefined : [name, 2];
    }
    case 'XmlSerialize':
      return ['xmlserialize', 2];
    default:
      return undefined;
  }
}

/** The name of a scalar subquery's column: its first target's (PostgreSQL names `(SELECT ssn …)` "ssn"). */
function firstTargetName(select: unknown): string {
  let s = obj(unwrap(select)?.body) ?? obj(select);
  while (s !== undefined && s.op !== undefined && s.op !== 'SETOP_NONE') s = obj(s.larg);
  const rt = obj(unwrap(list(s?.targetList)[0])?.body);
  if (rt === undefined) return '?column?';
  return str(rt.name) ?? figure(rt.val)?.[0] ?? '?column?';
}

function columnName(rt: Obj): string {
  return str(rt.name) ?? figure(rt.val)?.[0] ?? '?column?';
}

// ---------------------------------------------------------------------------------------------------------------
// Fingerprint

const POSITION_KEYS: ReadonlySet<string> = new Set(['location', 'stmt_location', 'stmt_len']);

/**
 * JSON without positions, so equal statements serialise equally however they are spaced or cased. The parser emits the
 * fields of each node type in one fixed order, so the serialisation is canonical without sorting keys (which tripled
 * the cost of the whole analysis).
 */
function canonical(stmts: unknown): string {
  return JSON.stringify(stmts, (key, value: unknown) => (POSITION_KEYS.has(key) ? undefined : value));
}

// ---------------------------------------------------------------------------------------------------------------
// The walker: one instance per analysed text, holding what it has collected

const CLAUSE_ORDER: readonly ColumnUsageClause[] = ['where', 'join', 'group', 'having', 'order', 'window', 'rows', 'condition', 'error'];

/** The last part of a qualified name when the qualifier is pg_catalog (or absent); undefined for other schemas. */
function catalogName(parts: readonly string[]): string | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length > 1 && parts.slice(0, -1).join('.').toLowerCase() !== 'pg_catalog') return undefined;
  return parts[parts.length - 1].toLowerCase();
}

const BETWEEN_KINDS: ReadonlySet<string> = new Set(['AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM', 'AEXPR_NOT_BETWEEN_SYM']);

class Walker {
  /** the output of the statement an EXPLAIN wraps */
  explained: Entry[] | undefined;
  readonly tables = new Map<string, TableRef>();
  readonly usages = new Map<string, ColumnUsage>();
  /** clauses that referenced something unresolvable: they get every column the statement reads */
  readonly unresolvedUsage = new Set<ColumnUsageClause>();
  /** lineage of values written into tables */
  readonly written: Lineage[] = [];
  /** the bodies of the ColumnRef nodes the walk resolved: one it never reached is a value it did not follow */
  readonly seen = new Set<object>();
  private readonly defaultSchema: string;

  constructor(private readonly catalog: Catalog) {
    this.defaultSchema = catalog.searchPath[0] ?? 'public';
  }

  // --- bookkeeping -------------------------------------------------------------------------------------------

  addTable(schema: string, table: string, access: TableRef['access']): void {
    const key = `${schema}\u0000${table}`;
    const seen = this.tables.get(key);
    if (seen === undefined || (seen.access === 'read' && access === 'write')) {
      this.tables.set(key, { schema, table, access });
    }
  }

  use(lineage: Lineage, clause: ColumnUsageClause): void {
    if (lineage.unresolved) this.unresolvedUsage.add(clause);
    for (const column of lineage.sources) {
      const key = `${clause}\u0000${refKey(column)}`;
      if (!this.usages.has(key)) this.usages.set(key, { column, clause });
    }
  }

  /** Every column of every table the statement touches; a table the catalogue does not know gives `*`. */
  allColumns(): ColumnRef[] {
    const out: ColumnRef[] = [];
    for (const t of this.tables.values()) {
      const known = this.catalog.columns(t.schema, t.table);
      if (known === undefined) out.push({ schema: t.schema, table: t.table, column: '*' });
      else for (const column of known.columns) out.push({ schema: known.schema, table: known.table, column });
    }
    return out;
  }

  // --- relations ---------------------------------------------------------------------------------------------

  /** A table reference (not a CTE): registers it and returns its columns, or an opaque entry when unknown. */
  private table(rv: Obj, access: TableRef['access']): { schema: string; table: string; entries: Entry[]; known: boolean } {
    const relname = str(rv.relname) ?? '';
    const schemaname = str(rv.schemaname);
    const known = this.catalog.columns(schemaname ?? null, relname);
    // PostgreSQL searches pg_catalog first, and every relation there is named pg_*
    const schema = known?.schema ?? schemaname ?? (relname.startsWith('pg_') ? 'pg_catalog' : this.defaultSchema);
    const table = known?.table ?? relname;
    this.addTable(schema, table, access);
    if (known === undefined) {
      return { schema, table, known: false, entries: [{ kind: 'opaque', sources: [{ schema, table, column: '*' }], unresolved: false }] };
    }
    const entries: Entry[] = known.columns.map((column) => ({
      kind: 'column',
      name: column,
      lineage: { sources: [{ schema, table, column }], direct: true, exact: true, unresolved: false },
    }));
    return { schema, table, known: true, entries };
  }

  private rangeVar(rv: Obj, ctes: Ctes, access: TableRef['access']): FromItem {
    const relname = str(rv.relname) ?? '';
    const alias = aliasOf(rv);
    const cte = rv.schemaname === undefined && access === 'read' ? ctes.get(relname) : undefined;
    if (cte !== undefined) {
      const entries = rename(cte, alias.columns);
      return { ranges: [{ name: alias.name ?? relname, schema: null, entries, base: null }], entries };
    }
    const t = this.table(rv, access);
    const entries = rename(t.entries, alias.columns);
    const range: Range = {
      name: alias.name ?? t.table,
      schema: alias.name === undefined ? t.schema : null,
      entries,
      base: t.known ? null : { schema: t.schema, table: t.table },
    };
    return { ranges: [range], entries };
  }

  private fromList(items: readonly unknown[], scope: Scope, ctes: Ctes): void {
    for (const item of items) scope.items.push(this.fromItem(item, scope, ctes));
  }

  /** One FROM item. `scope` holds the items before it, visible to LATERAL subqueries and to functions. */
  private fromItem(node: unknown, scope: Scope, ctes: Ctes): FromItem {
    const n = unwrap(node);
    if (n === undefined) return { ranges: [], entries: [] };
    const b = n.body;
    switch (n.type) {
      case 'RangeVar':
        return this.rangeVar(b, ctes, 'read');
      case 'RangeSubselect': {
        const alias = aliasOf(b);
        const out = this.query(b.subquery, b.lateral === true ? scope : scope.parent, ctes);
        const entries = rename(out, alias.columns);
        return { ranges: alias.name === undefined ? [] : [{ name: alias.name, schema: null, entries, base: null }], entries };
      }
      case 'RangeFunction':
        return this.rangeFunction(b, scope, ctes);
      case 'JoinExpr':
        return this.join(b, scope, ctes);
      case 'RangeTableSample': {
        const inner = this.fromItem(b.relation, scope, ctes);
        for (const a of list(b.args)) this.use(this.expr(a, scope, ctes), 'rows');
        if (b.repeatable !== undefined) this.use(this.expr(b.repeatable, scope, ctes), 'rows');
        return inner;
      }
      case 'RangeTableFunc': {
        const alias = aliasOf(b);
        const lineage = derived([this.expr(b.docexpr, scope, ctes), this.expr(b.rowexpr, scope, ctes)]);
        // the document and the row path decide how many rows come back
        this.use(lineage, 'rows');
        // namespace URIs and each column's PATH and DEFAULT are expressions too (`PATH '''' || ssn || ''''` returns
        // the value as an XPath string literal, `DEFAULT ssn` returns it as is); an XPath that does not compile fails
        const namespaces = derived(list(b.namespaces).map((n) => this.expr(unwrap(n)?.body.val, scope, ctes)));
        this.use(namespaces, 'error');
        const cols: Entry[] = [];
        for (const c of list(b.columns)) {
          const col = obj(unwrap(c)?.body);
          const name = str(col?.colname);
          const path = this.expr(col?.colexpr, scope, ctes);
          this.use(path, 'error');
          const fallback = this.expr(col?.coldefexpr, scope, ctes);
          // the DEFAULT is coerced to the column's type, which fails on some values unless that type is text
          const type = catalogName(names(obj(col?.typeName)?.names));
          if (type === undefined || !POSTGRES_TOTAL_CASTS.has(type) || list(obj(col?.typeName)?.arrayBounds).length > 0) this.use(fallback, 'error');
          if (name !== undefined) cols.push({ kind: 'column', name, lineage: derived([lineage, namespaces, path, fallback]) });
        }
        const entries = rename(cols, alias.columns);
        return { ranges: alias.name === undefined ? [] : [{ name: alias.name, schema: null, entries, base: null }], entries };
      }
      default: {
        // a FROM item this walker does not know: its columns are unknown, so fail closed
        const entries: Entry[] = [{ kind: 'opaque', sources: [], unresolved: true }];
        return { ranges: [], entries };
      }
    }
  }

  private rangeFunction(b: Obj, scope: Scope, ctes: Ctes): FromItem {
    const alias = aliasOf(b);
    // functions in FROM are implicitly LATERAL: earlier items are visible
    const calls: { name: string; lineage: Lineage; args: number; coldefs: string[] }[] = [];
    for (const f of list(b.functions)) {
      const items = list(unwrap(f)?.body.items);
      const call = unwrap(items[0]);
      const coldefs = list(items[1]).map((c) => str(unwrap(c)?.body.colname) ?? '?column?');
      const fn = call?.type === 'FuncCall' ? names(call.body.funcname) : [];
      const lineage = derived([this.expr(items[0], scope, ctes)]);
      // a function in FROM decides how many rows come back from its arguments
      this.use(lineage, 'rows');
      calls.push({
        name: fn[fn.length - 1] ?? '?column?',
        lineage,
        args: list(call?.body.args).length,
        coldefs,
      });
    }
    const all = derived(calls.map((c) => c.lineage));
    const topDefs = list(b.coldeflist).map((c) => str(unwrap(c)?.body.colname) ?? '?column?');
    let entries: Entry[] = [];
    if (topDefs.length > 0) {
      entries = topDefs.map((name) => ({ kind: 'column', name, lineage: all }));
    } else {
      for (const c of calls) {
        const shape = FUNCTION_COLUMNS[c.name];
        if (c.coldefs.length > 0) {
          for (const name of c.coldefs) entries.push({ kind: 'column', name, lineage: c.lineage });
        } else if (shape === null) {
          // single-column functions take the table alias as their column name, unnest one column per argument
          const count = c.name === 'unnest' ? Math.max(1, c.args) : 1;
          const name = calls.length === 1 && alias.name !== undefined ? alias.name : c.name;
          for (let i = 0; i < count; i++) entries.push({ kind: 'column', name, lineage: c.lineage });
        } else if (shape !== undefined) {
          for (const name of shape) entries.push({ kind: 'column', name, lineage: c.lineage });
        } else {
          entries.push({ kind: 'opaque', sources: c.lineage.sources, unresolved: c.lineage.unresolved });
        }
      }
    }
    if (b.ordinality === true) entries.push({ kind: 'column', name: 'ordinality', lineage: CONSTANT });
    entries = rename(entries, alias.columns);
    const name = alias.name ?? (calls.length === 1 ? calls[0].name : undefined);
    return { ranges: name === undefined ? [] : [{ name, schema: null, entries, base: null }], entries };
  }

  private join(b: Obj, scope: Scope, ctes: Ctes): FromItem {
    const left = this.fromItem(b.larg, scope, ctes);
    const right = this.fromItem(b.rarg, { items: [...scope.items, left], parent: scope.parent }, ctes);
    const joinScope: Scope = { items: [left, right], parent: scope.parent };
    let using = names(b.usingClause);
    if (b.isNatural === true) {
      const rightNames = new Set(right.entries.flatMap((e) => (e.kind === 'column' ? [e.name] : [])));
      using = left.entries.flatMap((e) => (e.kind === 'column' && rightNames.has(e.name) ? [e.name] : []));
    }
    const merged: Entry[] = [];
    const usingSet = new Set(using);
    for (const name of using) {
      const l = left.entries.find((e): e is Column => e.kind === 'column' && e.name === name);
      const r = right.entries.find((e): e is Column => e.kind === 'column' && e.name === name);
      const parts = [l?.lineage ?? this.openAttribution(name, left), r?.lineage ?? this.openAttribution(name, right)];
      for (const p of parts) this.use(p, 'join');
      // the merged column is the left value (right for RIGHT JOIN), COALESCE of both for FULL JOIN
      merged.push({ kind: 'column', name, lineage: combine(parts, b.jointype !== 'JOIN_FULL') });
    }
    if (b.quals !== undefined) this.use(this.expr(b.quals, joinScope, ctes), 'join');
    const rest = (item: FromItem) => item.entries.filter((e) => e.kind !== 'column' || !usingSet.has(e.name));
    const entries = [...merged, ...rest(left), ...rest(right)];
    const alias = aliasOf(b);
    if (alias.name !== undefined) {
      const renamed = rename(entries, alias.columns);
      return { ranges: [{ name: alias.name, schema: null, entries: renamed, base: null }], entries: renamed };
    }
    return { ranges: [...left.ranges, ...right.ranges], entries };
  }

  /** A name that should exist in an item whose columns are unknown: attributed to its unknown tables. */
  private openAttribution(name: string, item: FromItem): Lineage {
    const parts: Lineage[] = [];
    for (const r of item.ranges) {
      if (!r.entries.some((e) => e.kind === 'opaque')) continue;
      if (r.base !== null) {
        parts.push({ sources: [{ schema: r.base.schema, table: r.base.table, column: name }], direct: true, exact: true, unresolved: false });
      } else {
        for (const e of r.entries) if (e.kind === 'opaque') parts.push(entryLineage(e));
      }
    }
    if (parts.length === 0) return UNRESOLVED;
    const out = combine(parts, true);
    return parts.length === 1 ? out : { ...out, exact: false };
  }

  // --- name resolution ---------------------------------------------------------------------------------------

  private findRange(qualifier: readonly string[], scope: Scope | null): Range | undefined {
    const table = qualifier[qualifier.length - 1];
    const schema = qualifier.length >= 2 ? qualifier[qualifier.length - 2] : undefined;
    for (let s = scope; s !== null; s = s.parent) {
      for (const item of s.items) {
        for (const r of item.ranges) {
          if (r.name === table && (schema === undefined || r.schema === schema)) return r;
        }
      }
    }
    return undefined;
  }

  private wholeRow(entries: readonly Entry[]): Lineage {
    if (entries.length === 0) return UNRESOLVED;
    return derived(entries.map(entryLineage));
  }

  /** An unqualified name: a column of a FROM item, else a whole-row reference, level by level outwards. */
  resolveName(name: string, scope: Scope | null): Lineage | undefined {
    for (let s = scope; s !== null; s = s.parent) {
      const hits: Lineage[] = [];
      for (const item of s.items) {
        for (const e of item.entries) if (e.kind === 'column' && e.name === name) hits.push(e.lineage);
      }
      // PostgreSQL would reject an ambiguous name; the union is the safe reading
      if (hits.length > 0) return hits.length === 1 ? hits[0] : { ...combine(hits, false), exact: false };
      const candidates: Lineage[] = [];
      for (const item of s.items) {
        if (item.entries.some((e) => e.kind === 'opaque')) candidates.push(this.openAttribution(name, item));
        for (const r of item.ranges) if (r.name === name) candidates.push(this.wholeRow(r.entries));
      }
      if (candidates.length === 1) return candidates[0];
      if (candidates.length > 1) return { ...combine(candidates, false), exact: false };
    }
    return undefined;
  }

  private columnRef(fields: readonly unknown[], scope: Scope): Lineage {
    const parts = fields.map((f) => sval(f) ?? (unwrap(f)?.type === 'A_Star' ? '*' : ''));
    const last = parts[parts.length - 1];
    if (last === '*') {
      if (parts.length === 1) return this.wholeRow(scope.items.flatMap((i) => i.entries));
      const r = this.findRange(parts.slice(0, -1), scope);
      return r === undefined ? UNRESOLVED : this.wholeRow(r.entries);
    }
    if (parts.length === 1) return this.resolveName(last, scope) ?? UNRESOLVED;
    const r = this.findRange(parts.slice(0, -1), scope);
    if (r === undefined) return UNRESOLVED;
    const col = r.entries.find((e): e is Column => e.kind === 'column' && e.name === last);
    if (col !== undefined) return col.lineage;
    if (r.entries.some((e) => e.kind === 'opaque')) return this.openAttribution(last, { ranges: [r], entries: r.entries });
    // a column the relation does not have: the database will refuse it, but stay safe
    return { ...this.wholeRow(r.entries), exact: false, unresolved: true };
  }

  // --- expressions -------------------------------------------------------------------------------------------

  /** The lineage of an expression; usages inside it (windows, aggregate ORDER BY/FILTER, subqueries) are recorded. */
  expr(node: unknown, scope: Scope, ctes: Ctes): Lineage {
    if (Array.isArray(node)) return derived(node.map((x) => this.expr(x, scope, ctes)));
    const n = unwrap(node);
    if (n === undefined) return isObj(node) ? this.generic(node, scope, ctes) : CONSTANT;
    const b = n.body;
    switch (n.type) {
      case 'ColumnRef':
        this.seen.add(b);
        return this.columnRef(list(b.fields), scope);
      case 'A_Const':
      case 'ParamRef':
      case 'SQLValueFunction':
      case 'String':
      case 'Integer':
      case 'Float':
      case 'Boolean':
      case 'BitString':
      case 'SetToDefault':
      case 'TypeName':
        return CONSTANT;
      case 'TypeCast': {
        const arg = this.expr(b.arg, scope, ctes);
        const target = catalogName(names(obj(b.typeName)?.names));
        // a cast that can fail on some values tells them by failing (`ssn::int`)
        if (target === undefined || !POSTGRES_TOTAL_CASTS.has(target) || list(obj(b.typeName)?.arrayBounds).length > 0) this.use(arg, 'error');
        return derived([arg]);
      }
      case 'CollateClause':
        // a collation changes comparisons, not the value
        return this.expr(b.arg, scope, ctes);
      case 'FuncCall': {
        const args = list(b.args).map((a) => this.expr(a, scope, ctes));
        for (const s of list(b.agg_order)) this.use(this.expr(unwrap(s)?.body.node, scope, ctes), 'order');
        if (b.agg_filter !== undefined) this.use(this.expr(b.agg_filter, scope, ctes), 'where');
        const over = obj(b.over);
        if (over !== undefined) this.windowDef(over, scope, ctes);
        const fn = names(b.funcname);
        const name = catalogName(fn);
        // count(DISTINCT x) counts distinct values: a grouping by them
        if (b.agg_distinct === true) for (const a of args) this.use(a, 'group');
        // a set-returning function in the select list multiplies rows by what its arguments decide
        if (functionClass('postgres', fn.join('.')) === 'set-returning') for (const a of args) this.use(a, 'rows');
        const total = name === undefined ? undefined : POSTGRES_TOTAL_ARGS.get(name);
        if (total !== 'all') args.forEach((a, i) => (total?.includes(i) === true ? undefined : this.use(a, 'error')));
        return derived(args);
      }
      case 'A_Expr':
        return this.operator(b, scope, ctes);
      case 'XmlExpr': {
        // XMLPARSE, XMLPI and XMLROOT reject some contents (`xmlparse(content ssn)` fails on a '<'): an error oracle
        const args = [...list(b.named_args), ...list(b.args)].map((a) => this.expr(a, scope, ctes));
        if (b.op !== 'IS_XMLELEMENT' && b.op !== 'IS_XMLFOREST' && b.op !== 'IS_XMLCONCAT') for (const a of args) this.use(a, 'error');
        return derived(args);
      }
      case 'CaseExpr': {
        const parts: Lineage[] = [];
        const subject = this.expr(b.arg, scope, ctes);
        this.use(subject, 'condition');
        parts.push(subject);
        for (const w of list(b.args)) {
          const when = obj(unwrap(w)?.body);
          const condition = this.expr(when?.expr, scope, ctes);
          this.use(condition, 'condition');
          parts.push(condition, this.expr(when?.result, scope, ctes));
        }
        parts.push(this.expr(b.defresult, scope, ctes));
        return derived(parts);
      }
      case 'CoalesceExpr':
      case 'MinMaxExpr':
      case 'BoolExpr': {
        // which argument is evaluated, or returned, depends on the values of the others
        const args = list(b.args).map((a) => this.expr(a, scope, ctes));
        for (const a of args) this.use(a, 'condition');
        return derived(args);
      }
      case 'SubLink': {
        const out = this.query(b.subselect, scope, ctes);
        switch (b.subLinkType) {
          case 'EXPR_SUBLINK':
            return out.length > 0 ? entryLineage(out[0]) : UNRESOLVED;
          case 'ARRAY_SUBLINK':
            return derived([entryLineage(out[0])]);
          case 'EXISTS_SUBLINK':
            // the subquery's own WHERE is recorded as usages; the boolean carries no column value
            return derived([]);
          default:
            return derived([this.expr(b.testexpr, scope, ctes), ...out.map(entryLineage)]);
        }
      }
      case 'A_Indirection': {
        const arg = unwrap(b.arg);
        const first = sval(list(b.indirection)[0]);
        if (arg?.type === 'ColumnRef' && first !== undefined) {
          // (c).ssn: a field of a whole-row reference is that column
          const fields = names(arg.body.fields);
          if (fields.length === list(arg.body.fields).length && this.findRange(fields, scope) !== undefined) {
            this.seen.add(arg.body);
            const fieldLineage = this.columnRef([...list(arg.body.fields), { String: { sval: first } }], scope);
            if (list(b.indirection).length === 1) return fieldLineage;
            return derived([fieldLineage, ...list(b.indirection).slice(1).map((i) => this.expr(i, scope, ctes))]);
          }
        }
        return derived([this.expr(b.arg, scope, ctes), ...list(b.indirection).map((i) => this.expr(i, scope, ctes))]);
      }
      case 'SelectStmt':
        return derived(this.select(b, scope, ctes).map(entryLineage));
      case 'SortBy':
        return this.expr(b.node, scope, ctes);
      default:
        return this.generic(b, scope, ctes);
    }
  }

  /** An operator: comparisons and concatenation pass any value; patterns fail on a bad pattern, arithmetic on some values. */
  private operator(b: Obj, scope: Scope, ctes: Ctes): Lineage {
    const left = this.expr(b.lexpr, scope, ctes);
    const right = this.expr(b.rexpr, scope, ctes);
    const kind = str(b.kind) ?? '';
    const op = catalogName(names(b.name));
    if (kind === 'AEXPR_NULLIF') {
      this.use(left, 'condition');
      this.use(right, 'condition');
    } else if (BETWEEN_KINDS.has(kind) || kind === 'AEXPR_IN' || kind === 'AEXPR_DISTINCT' || kind === 'AEXPR_NOT_DISTINCT') {
      // comparisons only
    } else if (op !== undefined && POSTGRES_TOTAL_OPERATORS.has(op)) {
      // total whatever the operands
    } else if (op !== undefined && (POSTGRES_PATTERN_OPERATORS.has(op) || kind === 'AEXPR_SIMILAR' || kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE')) {
      this.use(right, 'error');
    } else {
      this.use(left, 'error');
      this.use(right, 'error');
    }
    return derived([left, right]);
  }

  /** Any other node: the union of its children, as a derived value. */
  private generic(body: Obj, scope: Scope, ctes: Ctes): Lineage {
    const parts: Lineage[] = [];
    for (const key in body) {
      if (key === 'location' || key === 'typeName') continue;
      const v = body[key];
      if (typeof v === 'object' && v !== null) parts.push(this.expr(v, scope, ctes));
    }
    return derived(parts);
  }

  private windowDef(w: Obj, scope: Scope, ctes: Ctes): void {
    for (const p of list(w.partitionClause)) this.use(this.expr(p, scope, ctes), 'window');
    for (const o of list(w.orderClause)) this.use(this.expr(o, scope, ctes), 'window');
    // frame bounds decide how many rows each window holds
    if (w.startOffset !== undefined) this.use(this.expr(w.startOffset, scope, ctes), 'rows');
    if (w.endOffset !== undefined) this.use(this.expr(w.endOffset, scope, ctes), 'rows');
  }

  // --- queries -----------------------------------------------------------------------------------------------

  /** Any query-shaped node: SELECT, or a data-modifying statement whose RETURNING list is its output. */
  query(node: unknown, outer: Scope | null, ctes: Ctes): Entry[] {
    const n = unwrap(node);
    if (n === undefined) return [{ kind: 'opaque', sources: [], unresolved: true }];
    switch (n.type) {
      case 'SelectStmt':
        return this.select(n.body, outer, ctes);
      case 'InsertStmt':
        return this.insert(n.body, ctes);
      case 'UpdateStmt':
        return this.update(n.body, ctes);
      case 'DeleteStmt':
        return this.delete(n.body, ctes);
      case 'MergeStmt':
        this.merge(n.body, ctes);
        return [];
      default:
        return [{ kind: 'opaque', sources: [], unresolved: true }];
    }
  }

  private withClause(w: unknown, outer: Scope | null, ctes: Ctes): Ctes {
    const wc = obj(w);
    if (wc === undefined) return ctes;
    const map = new Map(ctes);
    const recursive = wc.recursive === true;
    for (const c of list(wc.ctes)) {
      const cte = obj(unwrap(c)?.body);
      const name = str(cte?.ctename);
      if (cte === undefined || name === undefined) continue;
      const columns = names(cte.aliascolnames);
      const q = obj(unwrap(cte.ctequery)?.body);
      if (recursive && unwrap(cte.ctequery)?.type === 'SelectStmt' && q !== undefined && q.op === 'SETOP_UNION') {
        // anchor first, then the recursive arm until the lineage stops growing
        const anchor = this.select(obj(q.larg) ?? {}, outer, map);
        let current = rename(anchor, columns);
        map.set(name, current);
        for (let i = 0; i < 8; i++) {
          const step = this.select(obj(q.rarg) ?? {}, outer, map);
          const next = rename(setCombine(anchor, setCombine(current, step)), columns);
          const grew = signature(next) !== signature(current);
          current = next;
          map.set(name, current);
          if (!grew) break;
        }
      } else {
        map.set(name, rename(this.query(cte.ctequery, outer, map), columns));
      }
      const withClauses = this.searchAndCycle(cte, map.get(name) ?? []);
      if (withClauses !== undefined) map.set(name, withClauses);
    }
    return map;
  }

  /**
   * `SEARCH … SET seq` and `CYCLE … SET mark USING path` append columns to the CTE, in that order: the sequence and
   * the path hold the values of the named columns (an array of rows of them), the mark whether they repeated. Cycle
   * detection compares those values to stop the recursion, so it decides how many rows come back.
   */
  private searchAndCycle(cte: Obj, entries: readonly Entry[]): Entry[] | undefined {
    const search = obj(cte.search_clause);
    const cycle = obj(cte.cycle_clause);
    if (search === undefined && cycle === undefined) return undefined;
    const of = (cols: unknown): Lineage => {
      const parts = names(cols).map((n) => {
        const hit = entries.find((e): e is Column => e.kind === 'column' && e.name === n);
        return hit?.lineage ?? this.wholeRow(entries);
      });
      return derived(parts);
    };
    const out = [...entries];
    if (search !== undefined) {
      out.push({ kind: 'column', name: str(search.search_seq_column) ?? '?column?', lineage: of(search.search_col_list) });
    }
    if (cycle !== undefined) {
      const compared = of(cycle.cycle_col_list);
      this.use(compared, 'rows');
      out.push({ kind: 'column', name: str(cycle.cycle_mark_column) ?? '?column?', lineage: compared });
      out.push({ kind: 'column', name: str(cycle.cycle_path_column) ?? '?column?', lineage: compared });
    }
    return out;
  }

  select(b: Obj, outer: Scope | null, inherited: Ctes): Entry[] {
    const ctes = this.withClause(b.withClause, outer, inherited);
    const emptyScope: Scope = { items: [], parent: outer };
    if (b.op !== undefined && b.op !== 'SETOP_NONE') {
      const out = setCombine(this.select(obj(b.larg) ?? {}, outer, ctes), this.select(obj(b.rarg) ?? {}, outer, ctes));
      this.sortClause(b.sortClause, out, emptyScope, ctes, 'order');
      // UNION (not ALL), INTERSECT and EXCEPT compare rows: a grouping by every column
      if (b.all !== true) for (const e of out) this.use(entryLineage(e), 'group');
      this.use(this.expr(b.limitCount, emptyScope, ctes), 'rows');
      this.use(this.expr(b.limitOffset, emptyScope, ctes), 'rows');
      return out;
    }
    if (b.valuesLists !== undefined) {
      const rows = list(b.valuesLists).map((r) => list(unwrap(r)?.body.items).map((v) => this.expr(v, emptyScope, ctes)));
      const width = rows.reduce((m, r) => Math.max(m, r.length), 0);
      const out: Entry[] = [];
      for (let i = 0; i < width; i++) {
        out.push({ kind: 'column', name: `column${i + 1}`, lineage: combine(rows.map((r) => r[i] ?? CONSTANT), true) });
      }
      return out;
    }
    const scope: Scope = { items: [], parent: outer };
    this.fromList(list(b.fromClause), scope, ctes);
    const out = this.targets(list(b.targetList), scope, ctes);
    if (b.whereClause !== undefined) this.use(this.expr(b.whereClause, scope, ctes), 'where');
    for (const g of list(b.groupClause)) this.groupItem(g, out, scope, ctes);
    if (b.havingClause !== undefined) this.use(this.expr(b.havingClause, scope, ctes), 'having');
    for (const w of list(b.windowClause)) {
      const def = obj(unwrap(w)?.body);
      if (def !== undefined) this.windowDef(def, scope, ctes);
    }
    // DISTINCT ON groups rows by its expressions; plain DISTINCT is a list holding one empty node, grouping by every column
    const distinct = list(b.distinctClause);
    this.sortClause(distinct.filter((d) => unwrap(d) !== undefined), out, scope, ctes, 'group');
    if (distinct.length > 0 && distinct.every((d) => unwrap(d) === undefined)) for (const e of out) this.use(entryLineage(e), 'group');
    this.sortClause(b.sortClause, out, scope, ctes, 'order');
    this.use(this.expr(b.limitCount, scope, ctes), 'rows');
    this.use(this.expr(b.limitOffset, scope, ctes), 'rows');
    return out;
  }

  /** The output column an ORDER BY / GROUP BY item names by position or by output name, if it does. */
  private outputRef(node: unknown, out: readonly Entry[]): Lineage | undefined {
    const n = unwrap(node);
    if (n?.type === 'A_Const') {
      const ival = obj(n.body.ival);
      if (ival === undefined) return undefined;
      const k = typeof ival.ival === 'number' ? ival.ival : 0;
      // after an opaque `*` the position is unknown
      const opaqueBefore = out.slice(0, Math.max(0, k - 1)).some((e) => e.kind === 'opaque');
      if (opaqueBefore) return UNRESOLVED;
      return k >= 1 && k <= out.length ? entryLineage(out[k - 1]) : undefined;
    }
    if (n?.type === 'ColumnRef') {
      const fields = list(n.body.fields);
      const name = fields.length === 1 ? sval(fields[0]) : undefined;
      if (name === undefined) return undefined;
      const hits = out.filter((e): e is Column => e.kind === 'column' && e.name === name).map((e) => e.lineage);
      if (hits.length > 0) {
        this.seen.add(n.body);
        return combine(hits, hits.length === 1);
      }
    }
    return undefined;
  }

  /** ORDER BY and DISTINCT ON: an output column by position or name first, else an input expression. */
  private sortClause(items: unknown, out: readonly Entry[], scope: Scope, ctes: Ctes, clause: ColumnUsageClause): void {
    for (const item of list(items)) {
      const s = unwrap(item);
      const node = s?.type === 'SortBy' ? s.body.node : item;
      this.use(this.outputRef(node, out) ?? this.expr(node, scope, ctes), clause);
    }
  }

  /** GROUP BY: an input column first, then an output name or position, as PostgreSQL resolves it. */
  private groupItem(item: unknown, out: readonly Entry[], scope: Scope, ctes: Ctes): void {
    const n = unwrap(item);
    if (n?.type === 'GroupingSet') {
      for (const c of list(n.body.content)) this.groupItem(c, out, scope, ctes);
      return;
    }
    if (n?.type === 'RowExpr') {
      for (const c of list(n.body.args)) this.groupItem(c, out, scope, ctes);
      return;
    }
    if (n?.type === 'ColumnRef') {
      const fields = list(n.body.fields);
      const name = fields.length === 1 ? sval(fields[0]) : undefined;
      if (name !== undefined) {
        this.seen.add(n.body);
        this.use(this.resolveName(name, scope) ?? this.outputRef(item, out) ?? UNRESOLVED, 'group');
        return;
      }
    }
    this.use(this.outputRef(item, out) ?? this.expr(item, scope, ctes), 'group');
  }

  private targets(items: readonly unknown[], scope: Scope, ctes: Ctes): Entry[] {
    const out: Entry[] = [];
    for (const item of items) {
      const rt = obj(unwrap(item)?.body);
      if (rt === undefined) continue;
      const val = unwrap(rt.val);
      if (val?.type === 'ColumnRef') {
        const fields = list(val.body.fields);
        if (unwrap(fields[fields.length - 1])?.type === 'A_Star') {
          this.seen.add(val.body);
          out.push(...this.star(fields, scope));
          continue;
        }
      }
      if (val?.type === 'A_Indirection') {
        const path = list(val.body.indirection);
        if (unwrap(path[path.length - 1])?.type === 'A_Star') {
          // `(c).*`, `(f(x)).*`: one target, as many columns as the composite has
          out.push(...this.compositeStar(val.body.arg, path.slice(0, -1), scope, ctes));
          continue;
        }
      }
      out.push({ kind: 'column', name: columnName(rt), lineage: this.expr(rt.val, scope, ctes) });
    }
    return out;
  }

  /** The columns of `(arg).*`: a row variable's own columns, else columns of unknown number and names. */
  private compositeStar(arg: unknown, path: readonly unknown[], scope: Scope, ctes: Ctes): Entry[] {
    const a = unwrap(arg);
    if (path.length === 0 && a?.type === 'ColumnRef') {
      const fields = names(a.body.fields);
      const r = fields.length === list(a.body.fields).length ? this.findRange(fields, scope) : undefined;
      const shadowed = fields.length === 1 && this.hasColumn(fields[0], scope);
      if (r !== undefined && !shadowed && !r.entries.some((e) => e.kind === 'opaque')) {
        this.seen.add(a.body);
        return [...r.entries];
      }
    }
    const l = derived([this.expr(arg, scope, ctes), ...path.map((p) => this.expr(p, scope, ctes))]);
    return [{ kind: 'opaque', sources: l.sources, unresolved: l.unresolved }];
  }

  /** Whether an unqualified name is a column somewhere in scope (a column wins over a row variable of that name). */
  private hasColumn(name: string, scope: Scope | null): boolean {
    for (let s = scope; s !== null; s = s.parent) {
      if (s.items.some((item) => item.entries.some((e) => e.kind === 'column' && e.name === name))) return true;
    }
    return false;
  }

  private star(fields: readonly unknown[], scope: Scope): Entry[] {
    if (fields.length === 1) {
      const entries = scope.items.flatMap((i) => i.entries);
      return entries.length > 0 ? entries : [{ kind: 'opaque', sources: [], unresolved: true }];
    }
    const r = this.findRange(names(fields.slice(0, -1)), scope);
    return r === undefined ? [{ kind: 'opaque', sources: [], unresolved: true }] : [...r.entries];
  }

  // --- data-modifying statements -----------------------------------------------------------------------------

  private target(relation: unknown, ctes: Ctes): FromItem {
    return this.rangeVar(obj(relation) ?? {}, ctes, 'write');
  }

  private insert(b: Obj, inherited: Ctes): Entry[] {
    const ctes = this.withClause(b.withClause, null, inherited);
    const target = this.target(b.relation, ctes);
    for (const c of list(b.cols)) this.use(this.expr(unwrap(c)?.body.indirection, { items: [target], parent: null }, ctes), 'error');
    if (b.selectStmt !== undefined) {
      for (const e of this.query(b.selectStmt, null, ctes)) this.written.push(entryLineage(e));
    }
    const conflict = obj(b.onConflictClause);
    if (conflict !== undefined) {
      const excluded: FromItem = { ranges: [{ name: 'excluded', schema: null, entries: target.entries, base: null }], entries: [] };
      const scope: Scope = { items: [target, excluded], parent: null };
      for (const t of list(conflict.targetList)) {
        this.written.push(this.expr(unwrap(t)?.body.val, scope, ctes));
        this.use(this.expr(unwrap(t)?.body.indirection, scope, ctes), 'error');
      }
      if (conflict.whereClause !== undefined) this.use(this.expr(conflict.whereClause, scope, ctes), 'where');
      // the conflict target names an index by its expressions and predicate, over the target's own columns
      const infer = obj(conflict.infer);
      const targetScope: Scope = { items: [target], parent: null };
      for (const e of list(infer?.indexElems)) this.use(this.expr(unwrap(e)?.body.expr, targetScope, ctes), 'where');
      if (infer?.whereClause !== undefined) this.use(this.expr(infer.whereClause, targetScope, ctes), 'where');
    }
    return this.targets(list(b.returningList), { items: [target], parent: null }, ctes);
  }

  private update(b: Obj, inherited: Ctes): Entry[] {
    const ctes = this.withClause(b.withClause, null, inherited);
    const scope: Scope = { items: [this.target(b.relation, ctes)], parent: null };
    this.fromList(list(b.fromClause), scope, ctes);
    for (const t of list(b.targetList)) {
      this.written.push(this.expr(unwrap(t)?.body.val, scope, ctes));
      // `SET arr[i] = …`: the subscript decides where the value goes
      this.use(this.expr(unwrap(t)?.body.indirection, scope, ctes), 'error');
    }
    if (b.whereClause !== undefined) this.use(this.expr(b.whereClause, scope, ctes), 'where');
    return this.targets(list(b.returningList), scope, ctes);
  }

  private delete(b: Obj, inherited: Ctes): Entry[] {
    const ctes = this.withClause(b.withClause, null, inherited);
    const scope: Scope = { items: [this.target(b.relation, ctes)], parent: null };
    this.fromList(list(b.usingClause), scope, ctes);
    if (b.whereClause !== undefined) this.use(this.expr(b.whereClause, scope, ctes), 'where');
    return this.targets(list(b.returningList), scope, ctes);
  }

  private merge(b: Obj, inherited: Ctes): void {
    const ctes = this.withClause(b.withClause, null, inherited);
    const scope: Scope = { items: [this.target(b.relation, ctes)], parent: null };
    this.fromList([b.sourceRelation], scope, ctes);
    if (b.joinCondition !== undefined) this.use(this.expr(b.joinCondition, scope, ctes), 'join');
    for (const w of list(b.mergeWhenClauses)) {
      const when = obj(unwrap(w)?.body);
      if (when === undefined) continue;
      if (when.condition !== undefined) this.use(this.expr(when.condition, scope, ctes), 'where');
      for (const t of list(when.targetList)) {
        const val = unwrap(t)?.body.val;
        if (val !== undefined) this.written.push(this.expr(val, scope, ctes));
      }
      for (const v of list(when.values)) this.written.push(this.expr(v, scope, ctes));
    }
  }

  // --- top-level statements ----------------------------------------------------------------------------------

  /** The result columns of one top-level statement (empty when it returns no rows). */
  statement(node: unknown): Entry[] {
    const n = unwrap(node);
    if (n === undefined) return [];
    const b = n.body;
    switch (n.type) {
      case 'SelectStmt': {
        const out = this.select(b, null, NO_CTES);
        const into = intoTarget(b);
        if (into === undefined) return out;
        this.target(into, NO_CTES);
        for (const e of out) this.written.push(entryLineage(e));
        return [];
      }
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        return this.query(node, null, NO_CTES);
      case 'ExplainStmt':
        // the plan's estimates come from the statistics of what the explained statement returns
        this.explained = this.statement(b.query);
        return [{ kind: 'column', name: 'QUERY PLAN', lineage: CONSTANT }];
      case 'CopyStmt': {
        const from = b.is_from === true;
        let out: Entry[] = [];
        if (b.relation !== undefined) {
          const item = this.rangeVar(obj(b.relation) ?? {}, NO_CTES, from ? 'write' : 'read');
          const attlist = names(b.attlist);
          if (b.whereClause !== undefined) this.use(this.expr(b.whereClause, { items: [item], parent: null }, NO_CTES), 'where');
          out =
            attlist.length === 0
              ? [...item.entries]
              : attlist.map((a) => ({ kind: 'column', name: a, lineage: this.resolveName(a, { items: [item], parent: null }) ?? UNRESOLVED }));
        } else if (b.query !== undefined) {
          out = this.query(b.query, null, NO_CTES);
        }
        return from ? [] : out;
      }
      case 'CreateTableAsStmt': {
        const out = this.statement(b.query);
        const into = obj(b.into);
        if (into !== undefined) this.target(into.rel, NO_CTES);
        for (const e of out) this.written.push(entryLineage(e));
        return [];
      }
      case 'ViewStmt':
        this.target(b.view, NO_CTES);
        for (const e of this.statement(b.query)) this.written.push(entryLineage(e));
        return [];
      case 'DropStmt':
        // DROP names relations as lists of strings, not RangeVars
        if (DROPPED_RELATIONS.has(str(b.removeType) ?? '')) {
          for (const o of list(b.objects)) {
            const parts = names(unwrap(o)?.body.items);
            const relname = parts[parts.length - 1];
            if (relname !== undefined) this.table({ relname, schemaname: parts[parts.length - 2] }, 'write');
          }
        }
        return [];
      case 'DeclareCursorStmt':
      case 'PrepareStmt':
        // the rows come back later (EXECUTE, FETCH) with this statement's shape: the proxy masks them with this plan
        return this.statement(b.query);
      default:
        return [];
    }
  }
}

/** Schemas whose relations the catalogue does not list; the metadata surface decides about them. */
const SYSTEM_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema']);

const DROPPED_RELATIONS: ReadonlySet<string> = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE']);

function intoTarget(select: Obj): unknown {
  const into = obj(select.intoClause);
  if (into !== undefined) return into.rel;
  const larg = obj(select.larg);
  return larg === undefined ? undefined : intoTarget(larg);
}

/** UNION/INTERSECT/EXCEPT: column i is the union of each arm's column i, named from the left arm. */
function setCombine(left: readonly Entry[], right: readonly Entry[]): Entry[] {
  const shapeKnown = left.length === right.length && !left.some((e) => e.kind === 'opaque') && !right.some((e) => e.kind === 'opaque');
  if (!shapeKnown) {
    const all = derived([...left, ...right].map(entryLineage));
    return [{ kind: 'opaque', sources: all.sources, unresolved: all.unresolved }];
  }
  return left.map((l, i) => {
    const r = right[i];
    const name = l.kind === 'column' ? l.name : '?column?';
    return { kind: 'column', name, lineage: combine([entryLineage(l), entryLineage(r)], true) };
  });
}

function signature(entries: readonly Entry[]): string {
  return entries
    .map((e) => {
      const l = entryLineage(e);
      return `${l.sources.map(refKey).sort().join('|')}:${l.unresolved}:${l.exact}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Functions and the tables the walker did not visit

interface TreeFacts {
  functions: string[];
  /** operators as written: `=`, or `schema.op` for `OPERATOR(schema.op)` */
  operators: string[];
  relations: Obj[];
  cteNames: Set<string>;
  /** parse-tree nodes, for the analysis budget */
  nodes: number;
  /** `SET` clauses inside other statements (`ALTER ROLE … SET`, `ALTER FUNCTION … SET`, `ALTER DATABASE … SET`) */
  nestedSettings: Obj[];
}

/** A_Expr kinds whose `name` is an operator (the others name a construct such as BETWEEN). */
const OPERATOR_EXPRS: ReadonlySet<string> = new Set([
  'AEXPR_OP',
  'AEXPR_OP_ANY',
  'AEXPR_OP_ALL',
  'AEXPR_DISTINCT',
  'AEXPR_NOT_DISTINCT',
  'AEXPR_NULLIF',
  'AEXPR_IN',
  'AEXPR_LIKE',
  'AEXPR_ILIKE',
  'AEXPR_SIMILAR',
]);

/** Statements whose every expression the walker follows (directly or as the statement they wrap). */
const WALKED_STATEMENTS: ReadonlySet<string> = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'ExplainStmt',
  'CopyStmt',
  'DeclareCursorStmt',
  'PrepareStmt',
]);

/** A column reference in a place the analyser does not follow: the statement is refused (fail closed). */
export class UnfollowedColumnError extends Error {
  constructor() {
    super('a column is referenced where the analyser does not follow values');
    this.name = 'UnfollowedColumnError';
  }
}

/** The bodies of every ColumnRef node under a statement. */
function columnRefs(root: unknown): Obj[] {
  const out: Obj[] = [];
  const visit = (v: unknown, key: string): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x, '');
      return;
    }
    if (!isObj(v)) return;
    if (key === 'ColumnRef') out.push(v);
    for (const k in v) if (k !== 'location') visit(v[k], k);
  };
  visit(root, '');
  return out;
}

/** One pass over the raw tree for what must be complete whatever the walker understood. */
function treeFacts(root: unknown): TreeFacts {
  const functions = new Set<string>();
  const operators = new Set<string>();
  const relations: Obj[] = [];
  const cteNames = new Set<string>();
  const nestedSettings: Obj[] = [];
  let nodes = 0;
  const operator = (v: unknown): void => {
    const op = names(v);
    if (op.length > 0) operators.add(op.length === 1 ? op[0] : `${op.slice(0, -1).join('.').toLowerCase()}.${op[op.length - 1]}`);
  };
  let depth = 0;
  const visit = (v: unknown, key: string): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x, '');
      return;
    }
    if (!isObj(v)) return;
    nodes += 1;
    // a statement node sits at depth 2: the RawStmt, then `{ Type: body }`
    depth += 1;
    if (key === 'FuncCall' || key === 'funccall') {
      const fn = names(v.funcname);
      if (fn.length > 0) functions.add(fn.join('.').toLowerCase());
    }
    if (key === 'A_Expr' && OPERATOR_EXPRS.has(str(v.kind) ?? '')) operator(v.name);
    if (key === 'SubLink') operator(v.operName);
    if (key === 'SortBy') operator(v.useOp);
    if ((key === 'VariableSetStmt' && depth > 2) || key === 'setstmt') nestedSettings.push(v);
    if (typeof v.relname === 'string') relations.push(v);
    if (typeof v.ctename === 'string') cteNames.add(v.ctename);
    for (const k in v) if (k !== 'location') visit(v[k], k);
    depth -= 1;
  };
  visit(root, '');
  return { functions: [...functions], operators: [...operators], relations, cteNames, nodes, nestedSettings };
}

/** Output columns with their lineage; an inexact column may come from any column the statement reads. */
function columnsOf(entries: readonly Entry[], all: () => ColumnRef[]): { outputColumns: Analysis['outputColumns']; direct: boolean[] } {
  const outputColumns: Analysis['outputColumns'] = [];
  const direct: boolean[] = [];
  let previousOpaque = false;
  for (const e of entries) {
    const l = entryLineage(e);
    const exact = l.exact && !l.unresolved;
    const sources = exact ? [...l.sources] : dedupe([...l.sources, ...all()]);
    const previous = outputColumns[outputColumns.length - 1];
    if (e.kind === 'opaque' && previousOpaque && previous !== undefined) {
      // consecutive unknown column runs are one unknown run to the client
      previous.sources = dedupe([...previous.sources, ...sources]);
      continue;
    }
    previousOpaque = e.kind === 'opaque';
    outputColumns.push({ name: e.kind === 'column' ? e.name : '*', sources, exact: e.kind === 'column' && exact });
    direct.push(e.kind === 'column' && exact && l.direct);
  }
  return { outputColumns, direct };
}

/** The session-level prepared statement or cursor a statement creates, uses or drops. */
function namedOf(node: unknown): Analysis['named'] {
  const n = unwrap(node);
  if (n === undefined) return undefined;
  const name = (v: unknown) => str(v) ?? null;
  switch (n.type) {
    case 'PrepareStmt':
      return { verb: 'prepare', name: name(n.body.name) };
    case 'ExecuteStmt':
      return { verb: 'execute', name: name(n.body.name) };
    case 'DeallocateStmt':
      return { verb: 'deallocate', name: name(n.body.name) };
    case 'DeclareCursorStmt':
      return { verb: 'declare', name: name(n.body.portalname) };
    case 'FetchStmt':
      return { verb: n.body.ismove === true ? 'move' : 'fetch', name: name(n.body.portalname) };
    case 'ClosePortalStmt':
      return { verb: 'close', name: name(n.body.portalname) };
    default:
      return undefined;
  }
}

/** What a transaction-control statement does to the transaction. */
function transactionOf(node: unknown): Analysis['transaction'] {
  const n = unwrap(node);
  if (n?.type !== 'TransactionStmt') return undefined;
  switch (str(n.body.kind)) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
      return 'commit';
    case 'TRANS_STMT_ROLLBACK':
      return 'rollback';
    case 'TRANS_STMT_SAVEPOINT':
    case 'TRANS_STMT_RELEASE':
    case 'TRANS_STMT_ROLLBACK_TO':
      return 'savepoint';
    default:
      return 'prepared';
  }
}

/** Statement node types, including those a statement wraps (EXPLAIN, CREATE TABLE AS, COPY (query), PREPARE, DECLARE). */
function statementTypes(node: unknown, out: string[]): void {
  const n = unwrap(node);
  if (n === undefined) return;
  out.push(n.type);
  if (n.type === 'ExplainStmt' || n.type === 'CreateTableAsStmt' || n.type === 'CopyStmt' || n.type === 'PrepareStmt' || n.type === 'DeclareCursorStmt') {
    statementTypes(n.body.query, out);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands the guardrails look at

/**
 * Statement-level commands in a fixed vocabulary: `set <name>`, `reset <name>`, `reset all`,
 * `copy to|from program|file|stdout|stdin`, `do`, `load`, `alter system`, `prepare transaction`, `commit prepared`,
 * `rollback prepared`.
 */
function commandOf(node: unknown): string | undefined {
  const n = unwrap(node);
  if (n === undefined) return undefined;
  const b = n.body;
  switch (n.type) {
    case 'VariableSetStmt': {
      const name = (str(b.name) ?? '').toLowerCase();
      if (b.kind === 'VAR_RESET_ALL') return 'reset all';
      return b.kind === 'VAR_RESET' ? `reset ${name}` : `set ${name}`;
    }
    case 'CopyStmt': {
      const direction = b.is_from === true ? 'from' : 'to';
      const endpoint = b.is_program === true ? 'program' : b.filename !== undefined ? 'file' : b.is_from === true ? 'stdin' : 'stdout';
      return `copy ${direction} ${endpoint}`;
    }
    case 'DoStmt':
      return 'do';
    case 'DiscardStmt':
      return `discard ${(str(b.target) ?? '').replace(/^DISCARD_/, '').toLowerCase()}`;
    case 'LoadStmt':
      return 'load';
    case 'AlterSystemStmt':
      return 'alter system';
    case 'TransactionStmt': {
      // two-phase commit: a prepared transaction outlives the session and its credential
      const kind = str(b.kind);
      if (kind === 'TRANS_STMT_PREPARE') return 'prepare transaction';
      if (kind === 'TRANS_STMT_COMMIT_PREPARED') return 'commit prepared';
      if (kind === 'TRANS_STMT_ROLLBACK_PREPARED') return 'rollback prepared';
      return undefined;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

/** Everything the PostgreSQL analysis learns; `analysis` is the contract shape, the rest serves policy in-process. */
export interface PostgresAnalysisResult {
  analysis: Analysis;
  /** per output column: true when the value is a source column passed through unchanged */
  direct: boolean[];
  /** statement-level commands for the guardrails, e.g. `set role`, `copy to program` */
  commands: string[];
  /** source columns whose values the statement writes into a table (INSERT … SELECT, UPDATE SET, CREATE TABLE AS) */
  writtenSources: ColumnRef[];
  /** parse-tree node types of every statement and of the statements they wrap, for the statement allow-list */
  statements: string[];
  /** operators as written (`=`, `pg_catalog.=`, `public.###`), for the operator allow-list */
  operators: string[];
  /** relations read that the catalogue does not know (outside pg_catalog and information_schema) */
  unknownRelations: TableRef[];
  /** parse-tree nodes, for the analysis budget */
  nodes: number;
  /** for EXPLAIN: the output columns of the explained statement, whose statistics the plan's estimates show */
  explained?: Analysis['outputColumns'];
}

function parse(sql: string): unknown[] {
  if (sql.trim() === '') throw new SqlParseError('the statement is empty', 0);
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch (err) {
    const details = isObj(err) ? obj(err.sqlDetails) : undefined;
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('not initialized')) throw new Error('the PostgreSQL parser is not loaded: call initParsers() at start-up');
    const position = typeof details?.cursorPosition === 'number' ? details.cursorPosition : undefined;
    throw new SqlParseError(withoutConstant(message), position);
  }
  return [...list(obj(tree)?.stmts)];
}

/** The parser quotes the token it stopped at; when that token is a constant it may be a secret, so it is not repeated. */
function withoutConstant(message: string): string {
  return message.replace(/at or near "((?:[eEbBxXuU]&?)?'[\s\S]*|\$[\s\S]*|[0-9.][\s\S]*)"$/, 'at or near a constant');
}

function normalize(sql: string): string {
  return sql.trim().replace(/[;\s]+$/, '');
}

/** Analyses one PostgreSQL text (possibly several statements) with lineage and guardrail facts. */
export function inspectPostgres(sql: string, catalog: Catalog): PostgresAnalysisResult {
  const stmts = parse(sql);
  const walker = new Walker(catalog);
  const kinds = stmts.map((s) => statementKind(obj(s)?.stmt));
  let outputs: Entry[] = [];
  stmts.forEach((s, i) => {
    const out = walker.statement(obj(s)?.stmt);
    if (i === 0) outputs = out;
    // a column the walk did not reach is a value whose lineage and uses nobody checked: refuse rather than guess
    if (WALKED_STATEMENTS.has(unwrap(obj(s)?.stmt)?.type ?? '') && columnRefs(obj(s)?.stmt).some((c) => !walker.seen.has(c))) {
      throw new UnfollowedColumnError();
    }
  });

  // relations the walker did not reach (DDL, GRANT, LOCK, …) are still reported
  const facts = treeFacts(stmts);
  for (const rv of facts.relations) {
    const relname = str(rv.relname) ?? '';
    if (rv.schemaname === undefined && facts.cteNames.has(relname)) continue;
    const known = catalog.columns(str(rv.schemaname) ?? null, relname);
    const schema = known?.schema ?? str(rv.schemaname) ?? (relname.startsWith('pg_') ? 'pg_catalog' : (catalog.searchPath[0] ?? 'public'));
    const key = `${schema}\u0000${known?.table ?? relname}`;
    if (walker.tables.has(key)) continue;
    const kind = kinds[0] ?? 'other';
    walker.addTable(schema, known?.table ?? relname, kind === 'select' || kind === 'explain' || kind === 'show' ? 'read' : 'write');
  }

  let everything: ColumnRef[] | undefined;
  const all = (): ColumnRef[] => (everything ??= walker.allColumns());
  const { outputColumns, direct } = columnsOf(outputs, all);
  const explained = walker.explained === undefined ? undefined : columnsOf(walker.explained, all).outputColumns;

  for (const clause of walker.unresolvedUsage) walker.use({ ...UNRESOLVED, sources: all(), unresolved: false }, clause);

  const usages = [...walker.usages.values()].sort((a, b) => CLAUSE_ORDER.indexOf(a.clause) - CLAUSE_ORDER.indexOf(b.clause));

  const commands: string[] = [];
  for (const s of stmts) {
    const c = commandOf(obj(s)?.stmt);
    if (c !== undefined) commands.push(c);
  }
  for (const v of facts.nestedSettings) {
    const c = commandOf({ VariableSetStmt: v });
    if (c !== undefined && !commands.includes(c)) commands.push(c);
  }

  const analysis: Analysis = {
    dialect: 'postgres',
    statementCount: stmts.length,
    kind: kinds[0] ?? 'other',
    kinds,
    tables: [...walker.tables.values()],
    outputColumns,
    usages,
    functions: facts.functions,
    fingerprint: createHash('sha256').update(canonical(stmts)).digest('hex'),
    normalized: normalize(sql),
  };
  const named = namedOf(obj(stmts[0])?.stmt);
  if (named !== undefined) analysis.named = named;
  const transaction = transactionOf(obj(stmts[0])?.stmt);
  if (transaction !== undefined) analysis.transaction = transaction;
  if ((transaction === 'commit' || transaction === 'rollback') && unwrap(obj(stmts[0])?.stmt)?.body.chain === true) analysis.chain = true;
  const statements: string[] = [];
  for (const s of stmts) statementTypes(obj(s)?.stmt, statements);
  const unknownRelations = [...walker.tables.values()].filter(
    (t) => t.access === 'read' && !SYSTEM_SCHEMAS.has(t.schema) && !t.schema.startsWith('pg_toast') && catalog.columns(t.schema, t.table) === undefined,
  );
  return {
    analysis,
    direct,
    commands,
    statements,
    operators: facts.operators,
    unknownRelations,
    nodes: facts.nodes,
    ...(explained === undefined ? {} : { explained }),
    writtenSources: dedupe(walker.written.flatMap((l) => (l.unresolved || !l.exact ? [...l.sources, ...all()] : l.sources))),
  };
}

/** Analyses one PostgreSQL text: statement kinds, tables, output-column lineage, usages, functions, fingerprint. */
export function analyzePostgres(sql: string, catalog: Catalog): Analysis {
  return inspectPostgres(sql, catalog).analysis;
}
