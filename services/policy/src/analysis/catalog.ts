/** What the analyser knows about the database's tables: enough to expand `*` and to resolve unqualified names. */
export interface Catalog {
  /** schemas searched for an unqualified table name, in order (PostgreSQL `search_path`) */
  searchPath: string[];
  /**
   * The columns of a table, in their ordinal order, or undefined when the table is unknown.
   * `schema` null means "resolve through the search path". Names are matched exactly as the database stores them
   * (the parser has already folded unquoted identifiers).
   */
  columns(schema: string | null, table: string): { schema: string; table: string; columns: string[] } | undefined;
}

/**
 * A catalogue over a fixed map of `schema.table` → column names (in ordinal order).
 * Like PostgreSQL, `pg_catalog` is searched before the search path unless the path names it explicitly.
 */
export function staticCatalog(tables: Record<string, string[]>, searchPath: string[] = ['public']): Catalog {
  const byKey = new Map<string, { schema: string; table: string; columns: string[] }>();
  for (const [key, columns] of Object.entries(tables)) {
    const dot = key.indexOf('.');
    const schema = dot < 0 ? 'public' : key.slice(0, dot);
    const table = dot < 0 ? key : key.slice(dot + 1);
    byKey.set(`${schema}.${table}`, Object.freeze({ schema, table, columns: Object.freeze([...columns]) as string[] }));
  }
  const path = searchPath.includes('pg_catalog') ? [...searchPath] : ['pg_catalog', ...searchPath];
  return Object.freeze({
    searchPath: [...searchPath],
    columns(schema: string | null, table: string) {
      if (schema !== null) return byKey.get(`${schema}.${table}`);
      for (const s of path) {
        const hit = byKey.get(`${s}.${table}`);
        if (hit) return hit;
      }
      return undefined;
    },
  });
}
