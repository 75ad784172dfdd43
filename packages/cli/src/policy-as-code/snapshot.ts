import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { credentialV1 } from '@airlock/contracts';
import { staticCatalog, type Catalog } from '@airlock/policy';

/** A catalogue snapshot is the credential service's own answer to `credential.v1.catalog`, saved as JSON. */
export type CatalogSnapshot = credentialV1.CatalogResponse;
const check = TypeCompiler.Compile(credentialV1.CatalogResponse);

/** The text of a snapshot file: stable key order, one table per entry, so a change in the schema is a readable diff. */
export function snapshotText(s: CatalogSnapshot): string {
  return `${JSON.stringify({ connection: s.connection, searchPath: s.searchPath, tables: s.tables.map((t) => ({ schema: t.schema, table: t.table, columns: t.columns })) }, null, 2)}\n`;
}

export function readSnapshot(file: string): CatalogSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a catalogue snapshot: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!check.Check(value)) {
    const e = check.Errors(value).First();
    throw new Error(`${file}: not a catalogue snapshot: ${e?.path || '/'} ${e?.message}; write it with airlock policy snapshot`);
  }
  return value;
}

export function snapshotToCatalog(s: CatalogSnapshot): Catalog {
  const tables: Record<string, string[]> = {};
  for (const t of s.tables) tables[`${t.schema}.${t.table}`] = t.columns;
  return staticCatalog(tables, s.searchPath);
}

/** The snapshots (`*.catalog.json`) of a directory, by the connection each was taken from. */
export function snapshotsIn(dir: string): Map<string, { file: string; catalog: Catalog }> {
  const out = new Map<string, { file: string; catalog: Catalog }>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.catalog.json')).sort()) {
    const file = join(dir, f);
    const s = readSnapshot(file);
    const seen = out.get(s.connection);
    if (seen) throw new Error(`${file}: a second snapshot of connection "${s.connection}" (the first is ${seen.file})`);
    out.set(s.connection, { file, catalog: snapshotToCatalog(s) });
  }
  return out;
}
