/**
 * Allow-lists shipped as data, per dialect: which functions a statement may call and which settings it may change.
 * The guardrails look every called function and every `SET`/`RESET` parameter up here; whatever is not listed is
 * refused with a message naming it and the config key that allows it.
 */
import type { Dialect } from '@airlock/contracts';
import { POSTGRES_FUNCTIONS, POSTGRES_OPERATORS } from './postgres-functions.js';
import { POSTGRES_PINNED, POSTGRES_SETTABLE } from './postgres-settings.js';
import { snowflakeFunctionClass, type SnowflakeFunctionClass } from './snowflake-functions.js';
import { globPattern } from '../masking-plan.js';

/**
 * What a function does, for the allow-list. The first four compute from their arguments; `catalog` reads metadata;
 * the rest are refused unless `guardrails.allowFunctions` names the function.
 */
export type FunctionClass =
  | 'scalar'
  | 'aggregate'
  | 'window'
  | 'set-returning'
  | 'catalog'
  | 'reads-relations'
  | 'sql-from-text'
  | 'side-effects'
  | 'session'
  | 'admin';

/** Classes allowed without configuration. */
export const ALLOWED_CLASSES: ReadonlySet<FunctionClass> = new Set(['scalar', 'aggregate', 'window', 'set-returning', 'catalog']);

const WHY: Readonly<Record<FunctionClass, string>> = {
  scalar: 'computes from its arguments',
  aggregate: 'aggregates its arguments',
  window: 'computes over a window of rows',
  'set-returning': 'returns rows computed from its arguments',
  catalog: 'reads database metadata',
  'reads-relations': 'reads data the statement does not name, which Airlock cannot mask column by column',
  'sql-from-text': 'runs SQL held in a string, which Airlock cannot see, so masking and policy would not apply',
  'side-effects': 'changes state outside the statement (sequences, locks, notifications, large objects) or holds the session open',
  session: 'reads or changes session state that Airlock set up for this lease',
  admin: 'administers the database server, its files or other sessions',
};

const FROM_SNOWFLAKE: Readonly<Record<SnowflakeFunctionClass, FunctionClass>> = {
  scalar: 'scalar',
  aggregate: 'aggregate',
  window: 'window',
  set_returning: 'set-returning',
  nondeterministic: 'scalar',
  reads_relations: 'reads-relations',
  sql_from_text: 'sql-from-text',
  side_effects: 'side-effects',
};

/** The class of a function as called (lower case, possibly schema-qualified), or undefined when it is unknown. */
export function functionClass(dialect: Dialect, called: string): FunctionClass | undefined {
  const name = called.toLowerCase();
  if (dialect === 'snowflake') {
    const cls = snowflakeFunctionClass(name);
    return cls === undefined ? undefined : FROM_SNOWFLAKE[cls];
  }
  const dot = name.lastIndexOf('.');
  // only pg_catalog's own functions are known: the same name in another schema may be anything
  if (dot >= 0 && name.slice(0, dot) !== 'pg_catalog') return undefined;
  return POSTGRES_FUNCTIONS.get(name.slice(dot + 1));
}

/** Whether an operator as written (`=`, or `OPERATOR(schema.op)` as `schema.op`) is a pg_catalog operator. */
export function knownOperator(written: string): boolean {
  const dot = written.lastIndexOf('.');
  if (dot >= 0 && written.slice(0, dot).toLowerCase() !== 'pg_catalog') return false;
  return POSTGRES_OPERATORS.has(written.slice(dot + 1));
}

/** One allow-list verdict, as `airlock policy check` and the decided event show it. */
export interface Verdict {
  kind: 'function' | 'setting' | 'operator';
  name: string;
  /** the function's class, `unknown`, or for settings `settable` / `pinned` / `unlisted` */
  class: string;
  allowed: boolean;
  /** why, completing "<name> …" */
  reason: string;
}

export interface AllowListConfig {
  /** `guardrails.allowFunctions`: globs over function names that are allowed whatever their class */
  allowFunctions?: readonly string[];
  /** `guardrails.forbiddenFunctions`: globs refused whatever their class */
  forbiddenFunctions?: readonly string[];
  /** `guardrails.allowSettings`: parameters an agent may `SET`/`RESET` besides the cosmetic ones (never pinned ones) */
  allowSettings?: readonly string[];
}

function matchesAny(globs: readonly string[] | undefined, name: string): boolean {
  if (!globs || globs.length === 0) return false;
  const bare = name.slice(name.lastIndexOf('.') + 1);
  return globs.some((g) => {
    const p = globPattern(g);
    return p.test(name) || p.test(bare);
  });
}

/**
 * The verdict on one called function. A function on `forbiddenFunctions` is refused; one on `allowFunctions` is
 * allowed; otherwise its class decides. Unknown functions are refused, in both dialects, unless `unknownAllowed`.
 */
export function functionVerdict(dialect: Dialect, name: string, config: AllowListConfig, unknownAllowed = false): Verdict {
  const cls = functionClass(dialect, name);
  const shown = cls ?? 'unknown';
  if (matchesAny(config.forbiddenFunctions, name)) {
    return { kind: 'function', name, class: shown, allowed: false, reason: 'is on this deployment’s deny list (guardrails.forbiddenFunctions)' };
  }
  if (matchesAny(config.allowFunctions, name)) {
    return { kind: 'function', name, class: shown, allowed: true, reason: 'is allowed by guardrails.allowFunctions' };
  }
  if (cls === undefined) {
    return {
      kind: 'function',
      name,
      class: 'unknown',
      allowed: unknownAllowed,
      reason: unknownAllowed
        ? 'is not on the allow-list; allowed while the dialect’s list is incomplete'
        : 'is not on Airlock’s function allow-list, so Airlock cannot tell what it reads or does',
    };
  }
  return { kind: 'function', name, class: cls, allowed: ALLOWED_CLASSES.has(cls), reason: WHY[cls] };
}

/** The verdict on a `SET`/`RESET` of one PostgreSQL parameter (lower case). */
export function settingVerdict(name: string, config: AllowListConfig): Verdict {
  const lower = name.toLowerCase();
  const pinned = POSTGRES_PINNED.get(lower);
  if (pinned !== undefined) return { kind: 'setting', name: lower, class: 'pinned', allowed: false, reason: pinned };
  if (POSTGRES_SETTABLE.has(lower)) return { kind: 'setting', name: lower, class: 'settable', allowed: true, reason: 'only changes how values are shown' };
  if ((config.allowSettings ?? []).some((s) => s.toLowerCase() === lower)) {
    return { kind: 'setting', name: lower, class: 'settable', allowed: true, reason: 'is allowed by guardrails.allowSettings' };
  }
  return { kind: 'setting', name: lower, class: 'unlisted', allowed: false, reason: 'is not on Airlock’s settings allow-list' };
}
