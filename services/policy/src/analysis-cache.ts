import type { Dialect, policyV1 } from '@airlock/contracts';
import { inspect, type AnalysisResult, type Catalog } from './analysis/index.js';

/** Statements longer than this (in characters) are analysed and decided afresh each time, never kept in the caches. */
export const CACHE_MAX_CHARS = 16 * 1024;

/**
 * Analyses of recent statement texts, per catalogue version (a refreshed catalogue is a new object, so its entries
 * start empty). Agents repeat the same statements; a hit skips the parse and lineage work entirely.
 * Failed analyses are not cached: they are cheap to redo and the error carries the position. Nor are statements over
 * `CACHE_MAX_CHARS`: a few large texts would otherwise hold most of the memory.
 */
export class AnalysisCache {
  readonly #byCatalog = new WeakMap<Catalog, Map<string, AnalysisResult>>();
  readonly #decisions = new WeakMap<Catalog, Map<string, policyV1.Decision>>();
  readonly #max: number;

  constructor(max = 2000) {
    this.#max = max;
  }

  /** A decision made before for the same groups, connection and text on this catalogue version. */
  decision(catalog: Catalog, key: string): policyV1.Decision | undefined {
    const entries = this.#decisions.get(catalog);
    const hit = entries?.get(key);
    if (hit && entries) {
      entries.delete(key);
      entries.set(key, hit);
    }
    return hit;
  }

  remember(catalog: Catalog, key: string, decision: policyV1.Decision): void {
    let entries = this.#decisions.get(catalog);
    if (!entries) {
      entries = new Map();
      this.#decisions.set(catalog, entries);
    }
    entries.set(key, decision);
    if (entries.size > this.#max) entries.delete(entries.keys().next().value as string);
  }

  inspect(sql: string, dialect: Dialect, catalog: Catalog): AnalysisResult {
    if (sql.length > CACHE_MAX_CHARS) return inspect(sql, dialect, catalog);
    let entries = this.#byCatalog.get(catalog);
    if (!entries) {
      entries = new Map();
      this.#byCatalog.set(catalog, entries);
    }
    const key = `${dialect}\u0000${sql}`;
    const hit = entries.get(key);
    if (hit) {
      // refresh its place: Map keeps insertion order, so the first key is the least recently used
      entries.delete(key);
      entries.set(key, hit);
      return hit;
    }
    const result = inspect(sql, dialect, catalog);
    entries.set(key, result);
    if (entries.size > this.#max) entries.delete(entries.keys().next().value as string);
    return result;
  }
}
