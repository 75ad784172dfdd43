import { expandEnv, type Connection } from '@airlock/config';
import { PostgresEngine, SnowflakeEngine, type CredentialEngine } from '@airlock/credential';
import type { CatalogSnapshot } from './snapshot.js';

// kept apart from reading snapshots: `airlock policy test` loads no database driver
/** Reads a connection's tables and columns with its admin principal, as the credential service does. */
export async function takeSnapshot(name: string, connection: Connection, env: Record<string, string | undefined>): Promise<CatalogSnapshot> {
  const engine: CredentialEngine =
    connection.type === 'postgres' ? new PostgresEngine(expandEnv(connection.adminUrl, env), undefined, connection.tls) : new SnowflakeEngine(connection, env);
  try {
    const tables = await engine.catalog();
    return { connection: name, searchPath: engine.searchPath(), tables };
  } catch (err) {
    throw new Error(`cannot read the catalogue of connection "${name}": ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await engine.close().catch(() => undefined);
  }
}
