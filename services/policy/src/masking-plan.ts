/**
 * Turns an analysis and the masking rules into the plan the proxy applies to each result row.
 *
 * - A column is masked when any of its sources matches a rule the principal is not exempt from.
 * - Several rules on one column: the strongest action wins, in the order null > redact > hash > email > partial
 *   (null and redact reveal nothing, hash keeps equality, email keeps the domain, partial keeps characters; among
 *   partials the one keeping fewer characters is stronger).
 * - A format-preserving action (email, partial) or a hash is only safe on the source value itself. When the column derives from
 *   more than one masked source, or through anything but a plain column reference or alias, or its lineage is inexact,
 *   it becomes redact (`substr(card_number, 1, 12)` under "keep the last 4" would show digits 9–12).
 * - An inexact column with no source at all (lineage unknown) gets the strongest rule the principal is subject to on
 *   the connection, as redact (or null).
 * - A source column named `*` (a table the catalogue does not know) matches every column rule of its table.
 * - An output column named `*` that is not exact means the result shape is unknown: `maskUnlisted` is set, and only the
 *   columns before it are listed, since positions after it are unknown.
 */
import type { Analysis, ColumnRef, DetectorName, MaskAction, MaskingPlan } from '@airlock/contracts';

/** One masking rule from the config; every name field is a glob (`*`, `?`), matched case-insensitively. */
export interface MaskingRule {
  name: string;
  connections: string[];
  schema: string;
  table: string;
  column: string;
  action: MaskAction;
  exemptGroups: string[];
}

/** Compiles a glob with `*` and `?` into a case-insensitive whole-string pattern. */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (const c of glob) {
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'i');
}

function globMatch(glob: string, value: string): boolean {
  return globPattern(glob).test(value);
}

/** Higher is stronger. */
function strength(a: MaskAction): number {
  switch (a.kind) {
    case 'null':
      return 5_000_000;
    case 'redact':
      return 4_000_000;
    case 'hash':
      return 3_000_000;
    case 'email':
      return 2_000_000;
    case 'partial':
      // keep fewer characters: stronger
      return 1_000_000 - Math.min(a.keep, 999_999);
  }
}

function refName(c: ColumnRef): string {
  return `${c.schema}.${c.table}.${c.column}`;
}

interface Applied {
  rule: MaskingRule;
  source: ColumnRef;
}

/**
 * Builds the masking plan for one statement and principal. `direct[i]` says output column i is a source value passed
 * through unchanged (from the analysis' in-process result); when absent every column counts as derived, which only
 * makes masks stronger.
 */
export function buildMaskingPlan(input: {
  analysis: Analysis;
  connection: string;
  groups: string[];
  rules: MaskingRule[];
  detectors: DetectorName[];
  direct?: readonly boolean[];
  /** source columns the statement writes into tables: checked too, so the copy guard knows which are masked */
  writtenSources?: readonly ColumnRef[];
}): { plan: MaskingPlan; maskedSources: ColumnRef[] } {
  const { analysis, connection, groups } = input;
  const active = input.rules
    .filter((r) => r.connections.some((c) => globMatch(c, connection)))
    .filter((r) => !r.exemptGroups.some((g) => groups.some((mine) => globMatch(g, mine))))
    .map((r) => ({ rule: r, schema: globPattern(r.schema), table: globPattern(r.table), column: globPattern(r.column) }));

  const rulesFor = (source: ColumnRef): MaskingRule[] =>
    active
      .filter((r) => r.schema.test(source.schema) && r.table.test(source.table) && (source.column === '*' || r.column.test(source.column)))
      .map((r) => r.rule);

  const masked = new Map<string, ColumnRef>();
  const consider = (source: ColumnRef): Applied[] => {
    const applied = rulesFor(source).map((rule) => ({ rule, source }));
    if (applied.length > 0) masked.set(refName(source), source);
    return applied;
  };

  // the strongest rule this principal is subject to on this connection: what a column of unknown origin gets
  const strictest = active.reduce<MaskingRule | undefined>(
    (best, r) => (best === undefined || strength(r.rule.action) > strength(best.action) ? r.rule : best),
    undefined,
  );

  const columns: MaskingPlan['columns'] = [];
  const firstStar = analysis.outputColumns.findIndex((c) => c.name === '*' && !c.exact);
  const maskUnlisted = firstStar >= 0;
  analysis.outputColumns.forEach((col, index) => {
    const applied = col.sources.flatMap(consider);
    if (maskUnlisted && index >= firstStar) return;
    if (applied.length === 0) {
      if (!col.exact && col.sources.length === 0 && strictest !== undefined) {
        // no lineage at all (a function over text, a construct the analyser cannot follow): it could be anything read
        const action: MaskAction = strictest.action.kind === 'null' ? strictest.action : { kind: 'redact' };
        columns.push({ index, name: col.name, action, reason: `lineage unknown: masked as strictly as rule '${strictest.name}'` });
        return;
      }
      columns.push({ index, name: col.name, action: null });
      return;
    }
    const strongest = applied.reduce((best, a) => (strength(a.rule.action) > strength(best.rule.action) ? a : best));
    const maskedHere = new Set(applied.map((a) => refName(a.source)));
    const plain = col.exact && input.direct?.[index] === true && maskedHere.size === 1;
    let action: MaskAction = strongest.rule.action;
    let reason = `masking rule '${strongest.rule.name}' on ${refName(strongest.source)}`;
    // a hash of a derived value (`substr(ssn, 1, 1)`) is a per-character dictionary: only a column's own value is hashed
    if (!plain && (action.kind === 'email' || action.kind === 'partial' || action.kind === 'hash')) {
      action = { kind: 'redact' };
      reason += maskedHere.size > 1 ? ', redacted: derived from several masked columns' : ', redacted: the value is derived from the masked column';
    }
    columns.push({ index, name: col.name, action, reason });
  });

  // columns used outside the select list matter to the inference guard even when not returned
  for (const u of analysis.usages) consider(u.column);
  for (const w of input.writtenSources ?? []) consider(w);

  return {
    plan: { columns, maskUnlisted, detectors: [...input.detectors] },
    maskedSources: [...masked.values()],
  };
}
