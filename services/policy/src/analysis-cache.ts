import type { Dialect } from '@airlock/contracts';
import { inspect, type AnalysisResult, type Catalog } from './analysis/index.js';

/**
 * Analyses of recent statement texts, per catalogue version (a refreshed catalogue is a new object, so its entries
 * start empty). Agents repeat the same statements; a hit skips the parse and lineage work entirely.
 * Failed analyses are not cached: they are cheap to redo and the error carries the position.
 */
export class AnalysisCache {
  readonly #byCatalog = new WeakMap<Catalog, Map<string, AnalysisResult>>();
  readonly #max: number;

  constructor(max = 2000) {
    this.#max = max;
  }

  inspect(sql: string, dialect: Dialect, catalog: Catalog): AnalysisResult {
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
