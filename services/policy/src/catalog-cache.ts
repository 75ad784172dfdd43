import { credentialV1 } from '@airlock/contracts';
import { digest, newContext, type Bus, type Logger } from '@airlock/runtime';
import { staticCatalog, type Catalog } from './analysis/index.js';

interface Entry {
  catalog: Catalog;
  /** digest of what the credential service answered: equal for an unchanged catalogue */
  version: string;
  fetchedAt: number;
  refreshing?: Promise<void>;
}

/**
 * Each connection's tables and columns, asked of the credential service (the only holder of admin access),
 * cached and refreshed in the background so decisions never wait on it after the first.
 */
export class CatalogCache {
  readonly #entries = new Map<string, Entry>();
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #maxAgeMs: number;
  readonly #onChange: (connection: string) => void;

  /** `onChange` hears of a connection whose catalogue was read again and found different */
  constructor(bus: Bus, logger: Logger, maxAgeMs = 60_000, onChange: (connection: string) => void = () => undefined) {
    this.#bus = bus;
    this.#logger = logger;
    this.#maxAgeMs = maxAgeMs;
    this.#onChange = onChange;
  }

  /** The version of the connection's catalogue decisions are made with now ('' before it was first read). */
  version(connection: string): string {
    return this.#entries.get(connection)?.version ?? '';
  }

  async get(connection: string): Promise<Catalog> {
    const entry = this.#entries.get(connection);
    if (entry) {
      if (Date.now() - entry.fetchedAt > this.#maxAgeMs && !entry.refreshing) {
        entry.refreshing = this.#load(connection)
          .then(() => undefined)
          .catch(() => undefined)
          .finally(() => delete entry.refreshing);
      }
      return entry.catalog;
    }
    try {
      return await this.#load(connection);
    } catch (err) {
      // without a catalogue `*` cannot be expanded: the analysis then fails closed for it
      this.#logger.warn({ connection, err: err instanceof Error ? err.message : String(err) }, 'catalogue unavailable');
      return staticCatalog({});
    }
  }

  async #load(connection: string): Promise<Catalog> {
    const res = await this.#bus.call(credentialV1.catalog, { connection }, newContext(), { timeoutMs: 10_000 });
    const tables: Record<string, string[]> = {};
    for (const t of res.tables) tables[`${t.schema}.${t.table}`] = t.columns;
    const catalog = staticCatalog(tables, res.searchPath);
    const version = digest({ tables: res.tables, searchPath: res.searchPath });
    const before = this.#entries.get(connection)?.version;
    this.#entries.set(connection, { catalog, version, fetchedAt: Date.now() });
    if (before !== undefined && before !== version) this.#onChange(connection);
    return catalog;
  }

  /**
   * The catalogue reloaded now, unless it was loaded less than `minAgeMs` ago: a statement naming a table created
   * moments ago gets one more look, while a stream of statements naming tables that do not exist cannot turn into a
   * stream of catalogue queries.
   */
  async reloaded(connection: string, minAgeMs = 5_000): Promise<Catalog> {
    const entry = this.#entries.get(connection);
    if (entry && Date.now() - entry.fetchedAt < minAgeMs) return entry.catalog;
    try {
      return await this.#load(connection);
    } catch {
      return this.get(connection);
    }
  }

  invalidate(connection: string): void {
    this.#entries.delete(connection);
  }
}
