import type { ColumnRef, ColumnUsage, ColumnUsageClause, StatementKind, TableRef } from '@airlock/contracts';
import type { Catalog } from '../catalog.js';
import { SqlParseError } from '../errors.js';
import { type AstNode, isNode, listAt, nameOf, nodeAt, sourceOf, stringAt } from './ast.js';
import { endsWithQuotedIdent, fold, type Ident, leadingIdents, snowflakeExpressionName } from './lexer.js';
import { SNOWFLAKE_TOTAL_ARGS, SNOWFLAKE_VALUE_STEERING, snowflakeFunctionClass } from '../../allowlists/snowflake-functions.js';

/** Where a value comes from: a set of column keys, and whether that set could be established. */
interface Lineage {
  sources: Set<string>;
  exact: boolean;
  /** the value is one source column's own value, passed through unchanged (a reference, an alias, a subquery column) */
  direct?: boolean;
}

interface Output {
  name: string;
  lineage: Lineage;
}

interface RelColumn {
  /** the name a reference must match once folded */
  name: string;
  /** the catalogue's spelling, matched case-insensitively by unquoted references */
  catalogName?: string;
  lineage: Lineage;
}

interface Relation {
  /** folded alias, or folded table name when not aliased */
  name: string;
  /** null when the columns are not known: a table the catalogue lacks, a table function, a pivot */
  columns: RelColumn[] | null;
  /** set for a base table the catalogue lacks: a reference to it still names an exact column */
  base?: { schema: string; table: string };
}

interface Scope {
  relations: Relation[];
  parent: Scope | undefined;
  ctes: Map<string, RelColumn[] | null>;
  /** select-list aliases, which Snowflake lets later items and WHERE refer to */
  aliases: Map<string, Lineage>;
  /** a USING or NATURAL join merges columns, so `*` no longer maps one-to-one onto the catalogue */
  mergedJoin: boolean;
  /** folded names joined with USING: an unqualified reference to one means the merged column, not an ambiguity */
  usingColumns: Set<string>;
}

interface TableInfo {
  schema: string;
  table: string;
  columns: string[] | null;
}

/** Everything one statement contributes to an analysis. */
export interface StatementResult {
  kind: StatementKind;
  tables: TableRef[];
  /** `direct`: the column is one source column's own value, so a format-preserving or hash mask is safe on it */
  outputColumns: { name: string; sources: ColumnRef[]; exact: boolean; direct: boolean }[];
  usages: ColumnUsage[];
  functions: string[];
}

const NOT_FUNCTIONS = new Set(['exists', 'table']);
const ARITHMETIC = new Set(['/', '%', '*', '+', '-', 'DIV', 'MOD']);
/** AND / OR may skip their right operand depending on the left's value: an error there happens only for some values. */
const LOGICAL = new Set(['AND', 'OR']);
const COMPARISON = new Set(['=', '==', '!=', '<>', '<', '>', '<=', '>=', 'IN', 'NOT IN', 'BETWEEN', 'NOT BETWEEN', 'IS DISTINCT FROM', 'IS NOT DISTINCT FROM']);
const TEXT_TYPES = new Set(['VARCHAR', 'STRING', 'TEXT', 'CHAR', 'CHARACTER', 'NVARCHAR', 'NCHAR', 'VARIANT']);

/** A cast whose every target is a text type (or VARIANT) cannot fail on a value. */
function castsToText(node: AstNode): boolean {
  const targets = listAt(node, 'target');
  return targets.length > 0 && targets.every((t) => isNode(t) && typeof t.dataType === 'string' && TEXT_TYPES.has(t.dataType.toUpperCase()));
}
const MAX_RECURSION_ROUNDS = 8;

function columnKey(schema: string, table: string, column: string): string {
  return JSON.stringify([schema, table, column]);
}

function parseColumnKey(key: string): ColumnRef {
  const [schema, table, column] = JSON.parse(key) as [string, string, string];
  return { schema, table, column };
}

function exact(sources: Iterable<string> = []): Lineage {
  return { sources: new Set(sources), exact: true };
}

function inexact(sources: Iterable<string> = []): Lineage {
  return { sources: new Set(sources), exact: false };
}

function merge(into: Lineage, from: Lineage): Lineage {
  for (const s of from.sources) into.sources.add(s);
  into.exact = into.exact && from.exact;
  into.direct = into.direct === true && from.direct === true;
  return into;
}

function cloneLineage(l: Lineage): Lineage {
  return { sources: new Set(l.sources), exact: l.exact, direct: l.direct };
}

/** Snowflake shows a column created unquoted in upper case; a lower-case catalogue name is the emulator's folding of it. */
function visibleName(catalogName: string): string {
  return catalogName === catalogName.toLowerCase() ? catalogName.toUpperCase() : catalogName;
}

/**
 * Catalogue spellings to try for an identifier. An unquoted name matches in any case. A quoted name matches as written,
 * and an all-upper quoted name also matches the lower-case spelling under which the emulator stores Snowflake's
 * upper-case names.
 */
function spellings(ident: Ident): string[] {
  if (!ident.quoted) return [...new Set([ident.value.toUpperCase(), ident.value.toLowerCase(), ident.value])];
  return ident.value === ident.value.toUpperCase() ? [...new Set([ident.value, ident.value.toLowerCase()])] : [ident.value];
}

function matchesCatalogName(catalogName: string, ref: Ident): boolean {
  if (!ref.quoted) return catalogName.toUpperCase() === ref.value.toUpperCase();
  return catalogName === ref.value || visibleName(catalogName) === ref.value;
}

/**
 * Walks one parsed Snowflake statement: tables, output-column lineage, column usages and functions. One instance per
 * statement; its state lives only as long as the analysis call.
 */
export class StatementAnalyzer {
  private readonly tables = new Map<string, TableRef>();
  private readonly usages = new Map<string, ColumnUsage>();
  private readonly inexactUsages = new Set<ColumnUsageClause>();
  private readonly functions = new Set<string>();
  private readonly allColumns = new Set<string>();
  private readonly tableCache = new Map<string, TableInfo>();

  constructor(
    private readonly text: string,
    private readonly catalog: Catalog,
  ) {}

  analyze(ast: AstNode): StatementResult {
    const { kind, outputs } = this.statement(ast);
    return this.result(kind, outputs);
  }

  private result(kind: StatementKind, outputs: Output[]): StatementResult {
    const expand = (l: Lineage): string[] => [...(l.exact ? l.sources : new Set([...l.sources, ...this.allColumns]))].sort();
    for (const clause of this.inexactUsages) {
      for (const key of this.allColumns) this.addUsage(key, clause);
    }
    return {
      kind,
      tables: [...this.tables.values()],
      outputColumns: outputs.map((o) => ({
        name: o.name,
        sources: expand(o.lineage).map(parseColumnKey),
        exact: o.lineage.exact,
        direct: o.lineage.exact && o.lineage.direct === true && o.lineage.sources.size === 1,
      })),
      usages: [...this.usages.values()],
      functions: [...this.functions],
    };
  }

  private statement(ast: AstNode): { kind: StatementKind; outputs: Output[] } {
    const type = stringAt(ast, 'type')?.toLowerCase() ?? '';
    const root: Scope | undefined = undefined;
    switch (type) {
      case 'select':
        return { kind: 'select', outputs: this.query(ast, root) };
      case 'insert':
      case 'replace':
        this.insert(ast);
        return { kind: 'insert', outputs: [] };
      case 'update':
        this.update(ast);
        return { kind: 'update', outputs: [] };
      case 'delete':
        this.delete(ast);
        return { kind: 'delete', outputs: [] };
      case 'create':
      case 'drop':
      case 'alter':
      case 'truncate':
      case 'rename':
        this.ddl(ast);
        return { kind: 'ddl', outputs: [] };
      case 'use':
        return { kind: 'set', outputs: [] };
      case 'set':
        this.setVariable(ast);
        return { kind: 'set', outputs: [] };
      case 'show':
      case 'desc':
      case 'describe':
        return { kind: 'show', outputs: [] };
      case 'call':
        this.expr(ast.expr, this.scope(undefined));
        return { kind: 'call', outputs: [] };
      case 'grant':
      case 'revoke':
        return { kind: 'grant', outputs: [] };
      case 'transaction':
        return { kind: 'transaction', outputs: [] };
      case 'explain':
        return { kind: 'explain', outputs: [] };
      default:
        // Unknown statement shapes are still walked so that any table or column they name is reported.
        this.expr(ast, this.scope(undefined));
        return { kind: 'other', outputs: [] };
    }
  }

  /**
   * `SET v = …`: a session variable may be set to constants only. A variable set from a query would carry table values
   * into later statements (`SELECT $v`, `TABLE($v)`) where no lineage can follow them, so such a SET is refused.
   * References to variables (`$v`) are treated as of unknown lineage: masked as strictly as anything the statement reads.
   */
  private setVariable(ast: AstNode): void {
    const before = this.tables.size;
    const lineage = exact();
    for (const a of listAt(ast, 'expr')) {
      if (isNode(a) && a.type === 'assign') merge(lineage, this.expr(a.right, this.scope(undefined)));
      else merge(lineage, this.expr(a, this.scope(undefined)));
    }
    if (this.tables.size > before || lineage.sources.size > 0 || !lineage.exact) {
      throw new SqlParseError(
        'SET of a session variable from a query or another variable is refused: Airlock cannot follow values through ' +
          "session variables. Set variables to constants only (SET v = 'x'), or select the value directly.",
      );
    }
  }

  // ---- DML and DDL ------------------------------------------------------------------------------------------------

  private insert(ast: AstNode): void {
    for (const t of listAt(ast, 'table')) if (isNode(t)) this.tableNode(t, 'write');
    const values = nodeAt(ast, 'values');
    if (values && stringAt(values, 'type') === 'select') this.query(values, undefined);
    else if (values) this.expr(values, this.scope(undefined));
  }

  private update(ast: AstNode): void {
    const scope = this.scope(undefined);
    this.ctes(ast, scope);
    for (const t of listAt(ast, 'table')) if (isNode(t)) this.fromItem(t, scope, 'write');
    for (const f of listAt(ast, 'from')) if (isNode(f)) this.fromItem(f, scope, 'read');
    for (const s of listAt(ast, 'set')) if (isNode(s)) this.expr(s.value, scope);
    this.use(ast.where, scope, 'where');
  }

  /** `DELETE t FROM t …`: the names after DELETE are targets among the FROM relations, by alias or table name. */
  private delete(ast: AstNode): void {
    const scope = this.scope(undefined);
    const targets = new Set(
      listAt(ast, 'table')
        .filter(isNode)
        .map((t) => fold(this.tableIdents(t).table)),
    );
    let matched = false;
    for (const f of listAt(ast, 'from')) {
      if (!isNode(f)) continue;
      const alias = this.aliasIdent(f);
      const name = alias ? fold(alias) : fold(this.tableIdents(f).table);
      matched ||= targets.has(name);
      this.fromItem(f, scope, targets.has(name) ? 'write' : 'read');
    }
    // A target that names no FROM relation is a table in its own right: never let it go unreported.
    if (!matched) for (const t of listAt(ast, 'table')) if (isNode(t)) this.tableNode(t, 'write');
    this.use(ast.where, scope, 'where');
  }

  private ddl(ast: AstNode): void {
    for (const key of ['table', 'name']) {
      for (const t of listAt(ast, key)) if (isNode(t) && typeof t.table === 'string') this.tableNode(t, 'write');
    }
    const view = nodeAt(ast, 'view');
    if (view && typeof view.view === 'string') this.tableNode({ ...view, table: view.view }, 'write');
    const single = nodeAt(ast, 'table');
    if (single && typeof single.table === 'string') this.tableNode(single, 'write');
    for (const key of ['query_expr', 'select']) {
      const q = nodeAt(ast, key);
      if (q) this.query(q, undefined);
    }
  }

  // ---- queries ----------------------------------------------------------------------------------------------------

  private scope(parent: Scope | undefined): Scope {
    return { relations: [], parent, ctes: new Map(), aliases: new Map(), mergedJoin: false, usingColumns: new Set() };
  }

  /** A SELECT with its WITH clause and set operations; returns the output columns. */
  private query(ast: AstNode, outer: Scope | undefined): Output[] {
    const withScope = this.scope(outer);
    this.ctes(ast, withScope);
    return this.chain(ast, withScope);
  }

  private ctes(ast: AstNode, scope: Scope): void {
    for (const cte of listAt(ast, 'with')) {
      if (!isNode(cte)) continue;
      const name = nameOf(cte.name);
      const stmt = nodeAt(cte, 'stmt');
      const body = stmt && (nodeAt(stmt, 'ast') ?? stmt);
      if (!name || !body) continue;
      const key = fold(name);
      const renames = listAt(cte, 'columns')
        .map((c) => (isNode(c) && c.type === 'column_ref' ? nameOf(c.column) : nameOf(c)))
        .filter((c): c is Ident => c !== undefined);
      const define = (outputs: Output[]): RelColumn[] | null => {
        if (outputs.some((o) => o.name === '*' && !o.lineage.exact)) return null;
        return outputs.map((o, i) => ({
          name: renames[i] ? fold(renames[i]) : o.name,
          lineage: cloneLineage(o.lineage),
        }));
      };
      // Until defined, a reference to the CTE from inside itself is opaque rather than mistaken for a table.
      scope.ctes.set(key, null);
      if (!nodeAt(body, '_next')) {
        scope.ctes.set(key, define(this.query(body, scope)));
        continue;
      }
      // A recursive CTE: start from the anchor branch and feed the result back until its lineage stops growing.
      let current = define(this.single(body, scope, false).outputs);
      scope.ctes.set(key, current);
      let settled = false;
      for (let round = 0; round < MAX_RECURSION_ROUNDS && !settled; round += 1) {
        const next = define(this.query(body, scope));
        settled = signature(next) === signature(current);
        current = next;
        scope.ctes.set(key, current);
      }
      if (!settled && current) for (const c of current) c.lineage.exact = false;
    }
  }

  private chain(head: AstNode, scope: Scope): Output[] {
    const branches: AstNode[] = [];
    for (let cur: AstNode | undefined = head; cur; cur = nodeAt(cur, '_next')) branches.push(cur);
    if (branches.length === 1) return this.single(head, scope, true).outputs;
    const results = branches.map((b) => this.single(b, scope, false));
    const width = results[0].outputs.length;
    const sameWidth = results.every((r) => r.outputs.length === width);
    const outputs = results[0].outputs.map((o) => ({ name: o.name, lineage: cloneLineage(o.lineage) }));
    for (const r of results.slice(1)) {
      r.outputs.forEach((o, i) => {
        if (outputs[i]) merge(outputs[i].lineage, o.lineage);
      });
    }
    if (!sameWidth) for (const o of outputs) o.lineage.exact = false;
    // UNION without ALL drops duplicates across branches: `SELECT ssn … UNION SELECT '275-10-5481'` returns one row
    // fewer exactly when the guess is right, so every output is grouped by.
    if (branches.some((b) => typeof b.set_op === 'string' && b.set_op.toLowerCase() !== 'union all')) {
      for (const o of outputs) this.record(o.lineage, 'group');
    }
    // The grammar hangs a trailing ORDER BY on the last branch; it sorts the whole set operation's result.
    const last = results[results.length - 1];
    const orderby = [...listAt(branches[branches.length - 1], 'orderby'), ...listAt(head, '_orderby')];
    this.ordering(orderby, last.scope, outputs, 'order');
    return outputs;
  }

  /** One SELECT block. ORDER BY is left to the caller for a branch of a set operation. */
  private single(ast: AstNode, outer: Scope, withOrder: boolean): { outputs: Output[]; scope: Scope } {
    const scope = this.scope(outer);
    for (const item of listAt(ast, 'from')) if (isNode(item)) this.fromItem(item, scope, 'read');

    const outputs: Output[] = [];
    /** outputs that are not an aggregate call: what `GROUP BY ALL` groups by */
    const grouped: Output[] = [];
    for (const item of listAt(ast, 'columns')) {
      if (!isNode(item)) continue;
      const e = nodeAt(item, 'expr');
      if (e && e.type === 'column_ref' && e.column === '*') {
        const starred = this.star(e, scope);
        outputs.push(...starred);
        grouped.push(...starred);
        continue;
      }
      const lineage = this.expr(e ?? item, scope);
      const alias = nameOf(item.as);
      const name = alias ? fold(this.aliasQuoting(item, alias)) : this.defaultName(e, item);
      outputs.push({ name, lineage });
      const fn = e ? functionNameOf(e) : undefined;
      const aggregate = e?.type === 'aggr_func' || (fn !== undefined && snowflakeFunctionClass(fn) === 'aggregate' && (e?.over === undefined || e?.over === null));
      if (!aggregate) grouped.push({ name, lineage });
      if (alias) scope.aliases.set(name, lineage);
    }

    // DISTINCT drops duplicates: the number of rows tells which values are equal, so every output is grouped by.
    const distinct = nodeAt(ast, 'distinct');
    if (distinct && typeof distinct.type === 'string' && distinct.type.toUpperCase() === 'DISTINCT') {
      for (const o of outputs) this.record(o.lineage, 'group');
    }
    this.use(ast.where, scope, 'where');
    // LIMIT / OFFSET / FETCH / TOP decide how many rows come back: a value derived from a column there reveals it.
    const limit = nodeAt(ast, 'limit');
    if (limit) this.use(limit.value, scope, 'rows');
    const top = nodeAt(ast, 'top');
    if (top) this.use(top.value, scope, 'rows');
    this.use(ast.fetch, scope, 'rows');
    // QUALIFY filters rows after window functions: for inference it is a WHERE.
    this.use(ast.qualify, scope, 'where');
    const groupby = nodeAt(ast, 'groupby');
    const groupItems = groupby ? listAt(groupby, 'columns') : listAt(ast, 'groupby');
    // `GROUP BY ALL` groups by every select-list item that is not an aggregate
    const all = groupItems.filter((g) => isNode(g) && g.type === 'origin' && typeof g.value === 'string' && g.value.toUpperCase() === 'ALL');
    for (const o of all.length > 0 ? grouped : []) this.record(o.lineage, 'group');
    const groups = groupItems.filter((g) => !all.includes(g)).map((g) => ({ expr: g }));
    this.ordering(groups, scope, outputs, 'group');
    this.use(ast.having, scope, 'having');
    const windows = nodeAt(ast, 'window');
    if (windows) this.use(windows.expr, scope, 'window');
    if (withOrder) this.ordering([...listAt(ast, 'orderby'), ...listAt(ast, '_orderby')], scope, outputs, 'order');
    return { outputs, scope };
  }

  /** GROUP BY / ORDER BY items: by position, by output alias, or by expression. */
  private ordering(items: unknown[], scope: Scope, outputs: Output[], clause: ColumnUsageClause): void {
    for (const item of items) {
      if (!isNode(item)) continue;
      const e = nodeAt(item, 'expr');
      if (!e) continue;
      if (e.type === 'number' && typeof e.value === 'number') {
        const target = outputs[e.value - 1];
        if (target) this.record(target.lineage, clause);
        continue;
      }
      const lineage = this.expr(e, scope);
      if (e.type === 'column_ref' && !e.table && typeof e.column === 'string') {
        // An output alias may shadow a column here; count both so that neither hides a use.
        const ident = this.columnIdent(e).column;
        for (const o of outputs) if (o.name === fold(ident)) merge(lineage, o.lineage);
      }
      this.record(lineage, clause);
    }
  }

  private star(e: AstNode, scope: Scope): Output[] {
    const qualifier = typeof e.table === 'string' && e.table !== '' ? this.columnIdent(e).qualifier : undefined;
    const relations = qualifier
      ? scope.relations.filter((r) => r.name === fold(qualifier))
      : scope.relations;
    const known = relations.every((r) => r.columns !== null);
    const excluded = this.starExclusions(e);
    if (relations.length === 0 || !known || (!qualifier && scope.mergedJoin) || excluded === undefined) {
      const sources = new Set<string>();
      for (const r of relations) for (const c of r.columns ?? []) for (const s of c.lineage.sources) sources.add(s);
      return [{ name: '*', lineage: inexact(sources) }];
    }
    return relations.flatMap((r) =>
      (r.columns ?? [])
        .filter((c) => !excluded.some((x) => columnMatches(c, x)))
        .map((c) => ({ name: c.name, lineage: cloneLineage(c.lineage) })),
    );
  }

  /**
   * `* EXCLUDE (a, b)` drops columns from the expansion, and so moves every later column: the names are honoured so that
   * positions stay right. Any other modifier on `*` returns undefined: the expansion is then not known exactly.
   */
  private starExclusions(e: AstNode): Ident[] | undefined {
    const suffix = e.suffix;
    if (suffix === null || suffix === undefined) return [];
    if (!isNode(suffix) || !isNode(suffix.name)) return undefined;
    const fn = listAt(suffix.name, 'name').map((p) => nameOf(p)?.value.toLowerCase());
    if (fn.join('.') !== 'exclude') return undefined;
    const args = nodeAt(suffix, 'args');
    const refs = args ? listAt(args, 'value') : [];
    const idents: Ident[] = [];
    for (const r of refs) {
      if (isNode(r) && r.type === 'column_ref') idents.push(this.columnIdent(r).column);
      else if (isNode(r) && r.type === 'double_quote_string' && typeof r.value === 'string') idents.push({ value: r.value, quoted: true });
      else return undefined;
    }
    return idents;
  }

  private defaultName(e: AstNode | undefined, item: AstNode): string {
    if (e && e.type === 'column_ref' && !listAt(e, 'notations').includes(':')) return fold(this.columnIdent(e).column);
    if (e && e.type === 'double_quote_string' && typeof e.value === 'string') return e.value;
    const text = sourceOf(item, this.text);
    return text ? snowflakeExpressionName(text) : 'EXPR';
  }

  /** The grammar drops an alias's quotes; the alias is the last token of the item's source text. */
  private aliasQuoting(item: AstNode, alias: Ident): Ident {
    if (alias.quoted) return alias;
    const text = sourceOf(item, this.text);
    return { value: alias.value, quoted: text !== undefined && endsWithQuotedIdent(text) };
  }

  // ---- FROM -------------------------------------------------------------------------------------------------------

  private aliasIdent(item: AstNode): Ident | undefined {
    const alias = nameOf(item.as);
    return alias ? this.aliasQuoting(item, alias) : undefined;
  }

  private fromItem(item: AstNode, scope: Scope, access: TableRef['access']): void {
    if (item.type === 'var') {
      // `FROM @stage` reads staged files, not a table; the grammar reports it as a table of the same name.
      throw new SqlParseError(
        'The statement reads files from a stage (FROM @…), which Airlock cannot check column by column. ' +
          'Query the loaded table instead, or ask an approver.',
      );
    }
    const parenthesised = nodeAt(item, 'expr');
    if (parenthesised && parenthesised.type === 'tables') {
      // `FROM (customers) c` is the table itself; a parenthesised join is not read by this analyser: refused.
      const inner = listAt(parenthesised, 'expr');
      const only = inner[0];
      if (inner.length !== 1 || !isNode(only) || (item.as && only.as)) {
        throw new SqlParseError(
          'A parenthesised join in FROM cannot be analysed. Write the join without the parentheses around it.',
        );
      }
      this.fromItem({ ...only, as: item.as ?? only.as, join: item.join, on: item.on, using: item.using, loc: item.as ? item.loc : only.loc }, scope, access);
      return;
    }
    let alias = this.aliasIdent(item);
    let renames: Ident[] = [];
    // The grammar reads `AS d(a, b)` as the alias text "d(a)": split off the column list.
    const aliasMatch = alias && !alias.quoted ? /^([^(]+)\((.*)\)$/s.exec(alias.value) : null;
    if (alias && aliasMatch) {
      alias = { value: aliasMatch[1].trim(), quoted: false };
      renames = aliasMatch[2].split(',').map((c) => {
        const t = c.trim();
        return t.startsWith('"') ? { value: t.slice(1, -1), quoted: true } : { value: t, quoted: false };
      });
    }
    // The grammar reads `a NATURAL JOIN b` as `a AS natural JOIN b`; a natural join merges columns like USING.
    if (alias && !alias.quoted && alias.value.toUpperCase() === 'NATURAL') {
      alias = undefined;
      scope.mergedJoin = true;
    }

    let relation: Relation;
    const sub = nodeAt(item, 'expr');
    if (sub && isNode(sub.ast)) {
      const outputs = this.query(sub.ast, scope);
      const opaque = outputs.some((o) => o.name === '*' && !o.lineage.exact);
      relation = {
        name: alias ? fold(alias) : '',
        columns: opaque
          ? null
          : outputs.map((o, i) => ({ name: renames[i] ? fold(renames[i]) : o.name, lineage: o.lineage })),
      };
    } else if (sub && identifierArg(sub) === undefined && tableLiteralArg(sub) === undefined) {
      // A table function (`TABLE(GENERATOR(…))`, `LATERAL FLATTEN(…)`): its columns have no knowable lineage, and its
      // arguments decide how many rows come back, so every column they read is used like a WHERE condition.
      this.tableFunction(sub);
      this.use(sub, scope, 'rows');
      relation = { name: alias ? fold(alias) : '', columns: null };
    } else {
      const { schema, table } = sub ? this.identifierTable(sub) : this.tableIdents(item);
      const cte = schema === undefined ? this.findCte(scope, fold(table)) : undefined;
      if (cte !== undefined) {
        relation = {
          name: fold(alias ?? table),
          columns: cte && cte.map((c) => ({ name: c.name, lineage: cloneLineage(c.lineage) })),
        };
      } else {
        const info = this.addTable(schema, table, access);
        relation = {
          name: fold(alias ?? table),
          columns:
            info.columns &&
            info.columns.map((c) => ({
              name: visibleName(c),
              catalogName: c,
              lineage: { ...exact([columnKey(info.schema, info.table, c)]), direct: true },
            })),
          base: info.columns ? undefined : { schema: info.schema, table: info.table },
        };
      }
    }
    // TABLESAMPLE / SAMPLE decides how many rows come back.
    const operator = nodeAt(item, 'operator');
    if (operator) {
      // PIVOT / UNPIVOT reshape the columns: nothing about the result maps back exactly. PIVOT groups the rows by
      // every column it does not aggregate and compares the pivot column with its IN list; UNPIVOT drops NULL values,
      // so the rows that come back depend on them: every column of the relation is grouped by (fail closed).
      this.expr(operator, scope);
      if (relation.columns) for (const c of relation.columns) this.record(c.lineage, 'group');
      else this.record(inexact(), 'group');
      relation = { name: relation.name, columns: null };
    }
    if (renames.length > 0 && relation.columns) {
      relation.columns = relation.columns.map((c, i) => (renames[i] ? { name: fold(renames[i]), lineage: c.lineage } : c));
    }
    scope.relations.push(relation);
    // TABLESAMPLE decides how many rows come back. The grammar reads the sampling method as a function call
    // (`BERNOULLI(50)`): only its arguments are values.
    const sample = nodeAt(item, 'tablesample');
    if (sample) {
      const method = nodeAt(sample, 'expr');
      this.use(method && method.type === 'function' ? (method.args ?? null) : sample, scope, 'rows');
      this.use(sample.repeatable ?? null, scope, 'rows');
    }

    if (item.on) this.use(item.on, scope, 'join');
    const using = listAt(item, 'using');
    if (using.length > 0) scope.mergedJoin = true;
    for (const u of using) {
      const name = nameOf(u);
      if (!name) continue;
      scope.usingColumns.add(fold(name));
      const lineage = exact();
      for (const r of scope.relations) merge(lineage, this.fromRelation(r, name) ?? exact());
      this.record(lineage, 'join');
    }
  }

  private findCte(scope: Scope, name: string): RelColumn[] | null | undefined {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (s.ctes.has(name)) return s.ctes.get(name) ?? null;
    }
    return undefined;
  }

  private tableIdents(item: AstNode): { schema: Ident | undefined; table: Ident } {
    const surround = nodeAt(item, 'surround') ?? {};
    const table = { value: stringAt(item, 'table') ?? '', quoted: surround.table === '"' };
    // `DB.SCHEMA.TABLE` arrives as { catalog/db, schema, table }; `SCHEMA.TABLE` as { db, table }.
    const schemaName = stringAt(item, 'schema');
    if (schemaName) return { schema: { value: schemaName, quoted: surround.schema === '"' }, table };
    const db = stringAt(item, 'db');
    return { schema: db ? { value: db, quoted: surround.db === '"' } : undefined, table };
  }

  private tableNode(item: AstNode, access: TableRef['access']): TableInfo {
    const { schema, table } = this.tableIdents(item);
    return this.addTable(schema, table, access);
  }

  /**
   * `FROM IDENTIFIER('schema.table')` names a table through a string. With a literal it is that table; with a variable
   * the table cannot be known, and a statement whose tables are unknown must not be analysed as if it read none.
   */
  private identifierTable(fn: AstNode): { schema: Ident | undefined; table: Ident } {
    const arg = identifierArg(fn) ?? tableLiteralArg(fn);
    const idents = arg && arg.type === 'single_quote_string' && typeof arg.value === 'string' ? leadingIdents(arg.value) : [];
    if (idents.length === 0 || idents.length > 3) {
      throw new SqlParseError(
        'IDENTIFIER() or TABLE() in FROM names its table through a variable, bind parameter or expression, so the table ' +
          "cannot be checked. Name the table directly, or as a literal: IDENTIFIER('schema.table').",
      );
    }
    if (identifierArg(fn) !== undefined) this.functions.add('identifier');
    return { schema: idents.length > 1 ? idents[idents.length - 2] : undefined, table: idents[idents.length - 1] };
  }

  /**
   * A table function in FROM is allowed when it is a known row generator (`FLATTEN`, `GENERATOR`, `SPLIT_TO_TABLE`, …).
   * `RESULT_SCAN` is left to the deny list, which names it; any other table function (query history, a user-defined
   * table function, …) reads relations the analyser cannot see, and is refused.
   */
  private tableFunction(sub: AstNode): void {
    let fn: AstNode | undefined = sub;
    const wrapped = isNode(sub.name) && listAt(sub.name, 'name').length === 1 && nameOf(listAt(sub.name, 'name')[0])?.value.toLowerCase() === 'table';
    if (wrapped) {
      const args = nodeAt(sub, 'args');
      const values = args ? listAt(args, 'value') : [];
      fn = values.length === 1 && isNode(values[0]) ? values[0] : undefined;
    }
    let name: string | undefined;
    if (fn && (fn.type === 'generator' || fn.type === 'flatten')) name = fn.type;
    else if (fn && fn.type === 'function') name = functionNameOf(fn);
    if (name === undefined) {
      throw new SqlParseError(
        'TABLE() in FROM holds something other than a table name or a table function, so the table cannot be checked. ' +
          "Name the table directly, or as a literal: TABLE('schema.table').",
      );
    }
    this.functions.add(name);
    const cls = snowflakeFunctionClass(name);
    if (cls === 'set_returning' || name === 'result_scan') return;
    throw new SqlParseError(
      `The table function ${name} in FROM reads data Airlock cannot check column by column. Only row generators ` +
        '(FLATTEN, GENERATOR, SPLIT_TO_TABLE, STRTOK_SPLIT_TO_TABLE) may be used as tables; query the tables themselves.',
    );
  }

  private addTable(schema: Ident | undefined, table: Ident, access: TableRef['access']): TableInfo {
    const info = this.lookup(schema, table);
    const key = `${info.schema}\u0000${info.table}\u0000${access}`;
    if (!this.tables.has(key)) this.tables.set(key, { schema: info.schema, table: info.table, access });
    for (const c of info.columns ?? []) this.allColumns.add(columnKey(info.schema, info.table, c));
    return info;
  }

  /** Resolves a table against the catalogue: unquoted names in any case, quoted names exactly; default schema PUBLIC. */
  private lookup(schema: Ident | undefined, table: Ident): TableInfo {
    const cacheKey = JSON.stringify([schema, table]);
    const cached = this.tableCache.get(cacheKey);
    if (cached) return cached;
    const schemas: (string | null)[] = schema
      ? spellings(schema)
      : ['PUBLIC', 'public', null];
    let info: TableInfo | undefined;
    for (const s of schemas) {
      for (const t of spellings(table)) {
        const found = this.catalog.columns(s, t);
        if (found) {
          info = { schema: found.schema, table: found.table, columns: found.columns };
          break;
        }
      }
      if (info) break;
    }
    info ??= { schema: schema ? fold(schema) : 'PUBLIC', table: fold(table), columns: null };
    this.tableCache.set(cacheKey, info);
    return info;
  }

  // ---- expressions ------------------------------------------------------------------------------------------------

  /** Lineage of an expression; records usages for a clause and names every function called. */
  private use(node: unknown, scope: Scope, clause: ColumnUsageClause): void {
    if (node === null || node === undefined) return;
    this.record(this.expr(node, scope, clause), clause);
  }

  private record(lineage: Lineage, clause: ColumnUsageClause): void {
    for (const key of lineage.sources) this.addUsage(key, clause);
    if (!lineage.exact) this.inexactUsages.add(clause);
  }

  private addUsage(key: string, clause: ColumnUsageClause): void {
    const id = `${key}\u0000${clause}`;
    if (!this.usages.has(id)) this.usages.set(id, { column: parseColumnKey(key), clause });
  }

  /** `clause` is set while walking a WHERE, QUALIFY, … so that windows inside it count for that clause too. */
  private expr(node: unknown, scope: Scope, clause?: ColumnUsageClause): Lineage {
    const lineage = exact();
    if (Array.isArray(node)) {
      for (const n of node) merge(lineage, this.expr(n, scope, clause));
      return lineage;
    }
    if (!isNode(node)) return lineage;
    // A subquery arrives wrapped as `{ ast }` in most places, and bare in a few (the right side of `SET x = (…)`).
    const subquery = isNode(node.ast) ? node.ast : node.type === 'select' ? node : undefined;
    if (subquery) {
      for (const o of this.query(subquery, scope)) merge(lineage, o.lineage);
      return lineage;
    }
    const identifier = identifierArg(node);
    if (identifier !== undefined) {
      // `IDENTIFIER('ssn')` is the column ssn, not a constant; through a variable it could be any column.
      this.functions.add('identifier');
      const idents =
        identifier.type === 'single_quote_string' && typeof identifier.value === 'string' ? leadingIdents(identifier.value) : [];
      if (idents.length === 1) return this.resolve(undefined, idents[0], scope);
      if (idents.length === 2) return this.resolve(idents[0], idents[1], scope);
      return inexact();
    }
    switch (node.type) {
      case 'column_ref':
        return this.columnRef(node, scope);
      case 'double_quote_string':
        // Double quotes always make an identifier in Snowflake; the grammar reads a lone one as a string.
        return typeof node.value === 'string' ? this.resolve(undefined, { value: node.value, quoted: true }, scope) : lineage;
      case 'var':
        // `$1` (a positional column) and `$name` (a session variable that may hold any earlier result) have no lineage.
        return inexact();
      case 'function':
      case 'aggr_func':
      case 'window_func':
      case 'flatten':
        this.functionName(node);
        this.steering(node, scope);
        break;
      case 'cast':
        // A cast to anything but text may fail on the value, and TRY_CAST answers NULL or not: the value is used.
        if (node.keyword !== 'cast') this.use(node.expr, scope, 'condition');
        else if (!castsToText(node)) this.use(node.expr, scope, 'error');
        // a cast changes the value's form, so it is no longer the column's own value for masking
        return { ...this.expr(node.expr, scope, clause), direct: false };
      case 'case':
        // Which branch is taken depends on the tested values: they are used like a WHERE condition.
        this.use(node.expr, scope, 'condition');
        for (const arm of listAt(node, 'args')) if (isNode(arm)) this.use(arm.cond, scope, 'condition');
        break;
      case 'binary_expr':
        // Arithmetic may raise (division by zero, overflow) depending on its operands' values.
        if (typeof node.operator === 'string' && ARITHMETIC.has(node.operator)) {
          this.use(node.left, scope, 'error');
          this.use(node.right, scope, 'error');
        }
        // A comparison may convert its operands (a string compared with a number is cast, and fails on some values),
        // and its outcome steers AND/OR and everything built on it.
        // (Inside WHERE, JOIN, HAVING, … the operands are already uses of that clause.)
        if (clause === undefined && typeof node.operator === 'string' && (COMPARISON.has(node.operator.toUpperCase()) || LOGICAL.has(node.operator.toUpperCase()))) {
          this.use(node.left, scope, 'condition');
          this.use(node.right, scope, 'condition');
        }
        break;
      default:
        break;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc' || key === 'name' || key === 'over' || key === 'target') continue;
      merge(lineage, this.expr(value, scope, clause));
    }
    // Window PARTITION BY / ORDER BY steer the value without being its source: they are usages.
    if (node.over !== undefined && node.over !== null) {
      this.use(node.over, scope, 'window');
      if (clause && clause !== 'window') this.use(node.over, scope, clause);
    }
    return lineage;
  }

  private functionName(node: AstNode): void {
    let name: string | undefined;
    if (typeof node.name === 'string') name = node.name;
    else if (isNode(node.name)) {
      const parts = listAt(node.name, 'name')
        .map((p) => nameOf(p)?.value)
        .filter((p): p is string => p !== undefined);
      // `schema.fn(…)` keeps its schema apart from the name parts.
      const schema = nameOf(node.name.schema)?.value;
      name = [...(schema ? [schema] : []), ...parts].join('.');
    }
    if (name && !NOT_FUNCTIONS.has(name.toLowerCase())) this.functions.add(name.toLowerCase());
  }

  /**
   * Arguments that decide a branch or may raise an error on a bad value (`IFF`'s condition, `COALESCE`, `TO_NUMBER`,
   * …) are used like a WHERE condition. Functions that run SQL from text, have side effects or read other relations
   * are refused here, except those the guardrails' deny list names (RESULT_SCAN, SYSTEM$…), so that its code stays.
   */
  private steering(node: AstNode, scope: Scope): void {
    const name = functionNameOf(node) ?? (node.type === 'flatten' ? 'flatten' : undefined);
    if (name === undefined) return;
    const cls = snowflakeFunctionClass(name);
    const bare = name.slice(name.lastIndexOf('.') + 1);
    if ((cls === 'reads_relations' || cls === 'sql_from_text' || cls === 'side_effects') && bare !== 'result_scan' && !bare.startsWith('system$')) {
      throw new SqlParseError(
        `The function ${name} reads data or runs SQL that Airlock cannot check column by column, so the statement is refused. ` +
          'Query the tables themselves.',
      );
    }
    const steering = SNOWFLAKE_VALUE_STEERING[bare];
    const args = nodeAt(node, 'args');
    if (steering === undefined) {
      // FLATTEN in an expression position still decides rows by its input.
      if (cls === 'set_returning') this.use(args, scope, 'rows');
      if (cls === 'scalar' || cls === 'aggregate' || cls === 'window' || cls === 'nondeterministic') {
        // an argument not known to be total may fail on some values: the failure would tell the value
        const total = SNOWFLAKE_TOTAL_ARGS.get(bare);
        if (total !== 'all') {
          const values = args ? listAt(args, 'value') : [];
          // `OBJECT_CONSTRUCT(*)` keys by column name: distinct by construction
          const star = (v: unknown) => isNode(v) && v.type === 'column_ref' && v.column === '*';
          values.forEach((v, i) => (total?.includes(i) === true || star(v) ? undefined : this.use(v, scope, 'error')));
        }
      }
      return;
    }
    const values = args ? listAt(args, 'value') : [];
    if (steering.args === 'all') {
      this.use(args ?? null, scope, steering.clause);
      return;
    }
    for (const i of steering.args) this.use(values[i], scope, steering.clause);
  }

  private columnIdent(node: AstNode): { qualifier: Ident | undefined; column: Ident } {
    const column = nameOf(node.column) ?? { value: '', quoted: false };
    const table = typeof node.table === 'string' && node.table !== '' ? node.table : undefined;
    const text = sourceOf(node, this.text);
    const idents = text ? leadingIdents(text) : [];
    const last = idents[idents.length - 1];
    const matched = last !== undefined && last.value === column.value;
    const col = matched ? last : column;
    let qualifier: Ident | undefined;
    if (table !== undefined) {
      const q = idents[idents.length - (matched ? 2 : 1)];
      qualifier = q && q.value === table ? q : { value: table, quoted: false };
    }
    return { qualifier, column: col };
  }

  private columnRef(node: AstNode, scope: Scope): Lineage {
    if (listAt(node, 'notations').includes(':')) {
      // `[t.]v:field.path` reads inside VARIANT column v; the grammar shifts the names into schema/table/column, so the
      // column is read back from the source text, where it is the last name before the colon.
      // The value at the path is a part of the column's value, not the value itself: no format-preserving mask fits it.
      const idents = leadingIdents(sourceOf(node, this.text) ?? '');
      if (idents.length === 1) return { ...this.resolve(undefined, idents[0], scope), direct: false };
      if (idents.length === 2) return { ...this.resolve(idents[0], idents[1], scope), direct: false };
      return inexact();
    }
    if (node.column === '*') {
      // `OBJECT_CONSTRUCT(*)` and the like take every column of the FROM relations.
      const lineage = exact();
      for (const o of this.star(node, scope)) merge(lineage, o.lineage);
      return lineage;
    }
    const { qualifier, column } = this.columnIdent(node);
    return this.resolve(qualifier, column, scope);
  }

  private resolve(qualifier: Ident | undefined, column: Ident, scope: Scope): Lineage {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (qualifier) {
        const rel = s.relations.find((r) => r.name === fold(qualifier));
        if (rel) return this.fromRelation(rel, column) ?? inexact();
        continue;
      }
      const hits = s.relations.map((r) => (r.columns ? this.fromRelation(r, column) : undefined)).filter((l) => l);
      if (hits.length === 1 && hits[0]) return hits[0];
      if (hits.length > 1) {
        // A USING column is the merge of its namesakes; any other clash is ambiguous (Snowflake refuses it): inexact.
        const l = s.usingColumns.has(fold(column)) ? exact() : inexact();
        for (const h of hits) if (h) merge(l, h);
        return l;
      }
      const unknown = s.relations.filter((r) => r.columns === null);
      if (unknown.length === 1) return this.fromRelation(unknown[0], column) ?? inexact();
      if (unknown.length > 1) return inexact();
      const alias = s.aliases.get(fold(column));
      if (alias) return cloneLineage(alias);
    }
    return inexact();
  }

  private fromRelation(rel: Relation, column: Ident): Lineage | undefined {
    if (rel.columns) {
      const match = rel.columns.find((c) => columnMatches(c, column));
      return match ? cloneLineage(match.lineage) : undefined;
    }
    if (rel.base) return { ...exact([columnKey(rel.base.schema, rel.base.table, fold(column))]), direct: true };
    return inexact();
  }
}

/** The name of a function node, lower case, schema-qualified when written so. */
function functionNameOf(node: AstNode): string | undefined {
  if (typeof node.name === 'string') return node.name.toLowerCase();
  if (!isNode(node.name)) return undefined;
  const parts = listAt(node.name, 'name')
    .map((p) => nameOf(p)?.value)
    .filter((p): p is string => p !== undefined);
  const schema = nameOf(node.name.schema)?.value;
  return [...(schema ? [schema] : []), ...parts].join('.').toLowerCase();
}

/**
 * The argument of `TABLE(…)` in FROM when it is not a table function: a string literal names a table
 * (`TABLE('customers')`); a bind parameter, variable or expression (`TABLE(?)`, `TABLE($v)`) names one the analyser
 * cannot know, and is returned too so that the caller refuses it. Undefined when the node is not such a call.
 */
function tableLiteralArg(node: AstNode): AstNode | undefined {
  if (node.type !== 'function' || !isNode(node.name) || isNode(node.name.schema)) return undefined;
  const parts = listAt(node.name, 'name');
  if (parts.length !== 1 || nameOf(parts[0])?.value.toLowerCase() !== 'table') return undefined;
  const args = nodeAt(node, 'args');
  const values = args ? listAt(args, 'value') : [];
  const first = values[0];
  if (values.length === 1 && isNode(first) && (first.type === 'function' || first.type === 'generator' || first.type === 'flatten')) {
    return undefined;
  }
  return values.length === 1 && isNode(first) ? first : { type: 'unknown' };
}

/** The argument of an `IDENTIFIER(…)` call, or undefined when the node is not one. */
function identifierArg(node: AstNode): AstNode | undefined {
  if (node.type !== 'function' || !isNode(node.name) || isNode(node.name.schema)) return undefined;
  const parts = listAt(node.name, 'name');
  if (parts.length !== 1 || nameOf(parts[0])?.value.toLowerCase() !== 'identifier') return undefined;
  const args = nodeAt(node, 'args');
  const values = args ? listAt(args, 'value') : [];
  const first = values[0];
  return values.length === 1 && isNode(first) ? first : { type: 'unknown' };
}

function columnMatches(c: RelColumn, ref: Ident): boolean {
  return c.catalogName === undefined ? c.name === fold(ref) : matchesCatalogName(c.catalogName, ref);
}

function signature(columns: RelColumn[] | null): string {
  if (!columns) return 'null';
  return JSON.stringify(columns.map((c) => [c.name, [...c.lineage.sources].sort(), c.lineage.exact]));
}
