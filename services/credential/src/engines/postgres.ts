import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { credentialV1 } from '@airlock/contracts';
import type { CredentialEngine, MintInput } from './engine.js';
import { scramVerifier } from './scram.js';

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

/** PostgreSQL credentials: an ephemeral LOGIN role per lease, member of the scope role, with a VALID UNTIL backstop. */
export class PostgresEngine implements CredentialEngine {
  readonly type = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #target: { host: string; port: number; database: string; ssl: boolean };
  readonly #adminUser: string;

  constructor(adminUrl: string) {
    const url = new URL(adminUrl);
    this.#target = {
      host: url.hostname,
      port: Number(url.port || 5432),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      ssl: url.searchParams.get('sslmode') === 'require' || url.searchParams.get('sslmode') === 'verify-full',
    };
    this.#adminUser = decodeURIComponent(url.username || 'postgres');
    this.#pool = new pg.Pool({ connectionString: adminUrl, max: 4, application_name: 'airlock-credential' });
    this.#pool.on('error', () => undefined);
  }

  async mint(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']> {
    const password = randomBytes(24).toString('base64url');
    // the role exists only for this lease: login until the backstop, member of the scope role, inheriting its grants
    await this.#pool.query(
      `CREATE ROLE ${ident(input.username)} LOGIN INHERIT NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 8 ` +
        `PASSWORD ${literal(scramVerifier(password))} VALID UNTIL ${literal(input.expiresAt.toISOString())} IN ROLE ${ident(input.role)}`,
    );
    return { type: 'postgres', ...this.#target, password };
  }

  async revoke(username: string): Promise<{ terminatedSessions: number }> {
    const exists = await this.#pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
    if (exists.rowCount === 0) return { terminatedSessions: 0 };
    await this.#pool.query(`ALTER ROLE ${ident(username)} NOLOGIN`);
    let terminated = 0;
    for (let i = 0; i < 50; i++) {
      const { rows } = await this.#pool.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
        [username],
      );
      terminated += rows.filter((r) => r.ok).length;
      if (rows.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // objects the lease created (temp tables, anything its grants allowed) must not block the drop
    await this.#pool.query(`REASSIGN OWNED BY ${ident(username)} TO ${ident(this.#adminUser)}`);
    await this.#pool.query(`DROP OWNED BY ${ident(username)}`);
    await this.#pool.query(`DROP ROLE IF EXISTS ${ident(username)}`);
    return { terminatedSessions: terminated };
  }

  async listWithPrefix(prefix: string): Promise<string[]> {
    const { rows } = await this.#pool.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname",
      [prefix],
    );
    return rows.map((r) => r.rolname);
  }

  async catalog(): Promise<credentialV1.CatalogResponse['tables']> {
    const { rows } = await this.#pool.query<{ schema: string; table: string; columns: string[] }>(
      `SELECT c.table_schema AS schema, c.table_name AS table, array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
         FROM information_schema.columns c
        WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
        GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    return rows;
  }

  searchPath(): string[] {
    return ['public'];
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
