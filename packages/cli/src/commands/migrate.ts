import pg from 'pg';
import { parseArgs } from 'node:util';
import { migrateApproval } from '@airlock/approval';
import { migrateAudit, writerRole } from '@airlock/audit';
import { migrateConsole } from '@airlock/console';
import { migrateLeases, migrateOAuthKeys } from '@airlock/credential';
import { migrateIdentity, samlMigrations } from '@airlock/identity';
import { commonEnv, ensureDatabase, migrate, readEnv } from '@airlock/runtime';
import type { ServiceName } from '../stack.js';

export const migrateUsage = 'airlock migrate [--roles <prefix>]   (as the schema owner: DATABASE_URL names the owner role)';

/** Read, write and delete rows: what a store needs of its own tables; never DDL, TRUNCATE or another store's table. */
const rw = 'SELECT, INSERT, UPDATE, DELETE';

/**
 * Exactly the tables each service's store uses, and how. A service running as its own role (`<prefix>_<service>`)
 * can do this and nothing else in the state database; `test/deploy/db-roles.test.ts` runs the stack that way.
 */
export const storeGrants: Readonly<Record<ServiceName, ReadonlyArray<{ table: string; privileges: string }>>> = {
  identity: [{ table: 'identity_saml_assertions', privileges: rw }],
  policy: [],
  approval: [
    { table: 'approval_requests', privileges: rw },
    { table: 'approval_votes', privileges: rw },
    { table: 'approval_grants', privileges: rw },
    { table: 'approval_outbox', privileges: rw },
    { table: 'approval_delivery_attempts', privileges: rw },
  ],
  credential: [
    { table: 'leases', privileges: rw },
    { table: 'pooled_credentials', privileges: rw },
  ],
  // appends run as the insert-only writer role (granted as membership); sessions and verify read
  audit: [],
  proxy: [],
  console: [
    { table: 'console_sessions', privileges: rw },
    { table: 'console_saml_requests', privileges: rw },
    // no lease table: the leases page asks the credential service (credential.v1.list-leases)
  ],
};

/** Sequences a store's inserts draw from. */
const storeSequences: Readonly<Partial<Record<ServiceName, readonly string[]>>> = { approval: ['approval_outbox_id_seq'] };

const ident = (name: string) => pg.escapeIdentifier(name);

/**
 * The roles, for a database superuser to run once in the state database: an owner that applies migrations and owns
 * the schema, and one login role per service, each without any privilege until `airlock migrate --roles` grants its
 * store's. Passwords are set afterwards (`ALTER ROLE … PASSWORD`), never in this text.
 */
export function rolesSql(prefix: string, database: string, services: readonly ServiceName[]): string {
  const owner = `${prefix}_owner`;
  return [
    `CREATE ROLE ${ident(owner)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT`,
    ...services.map((s) => `CREATE ROLE ${ident(`${prefix}_${s}`)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT`),
    `ALTER DATABASE ${ident(database)} OWNER TO ${ident(owner)}`,
    // run in the state database: the owner creates the schema's objects, nobody else may
    `ALTER SCHEMA public OWNER TO ${ident(owner)}`,
    'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
    // the audit writer role exists before the owner's migration grants it rights on the table
    `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${writerRole}') THEN CREATE ROLE ${writerRole} NOLOGIN; END IF; END $$`,
    `GRANT ${writerRole} TO ${ident(owner)} WITH ADMIN OPTION`,
    `GRANT ${writerRole} TO ${ident(`${prefix}_audit`)}`,
  ].join(';\n');
}

/** Every store's migrations, in the order the services would apply them. */
export async function migrateAll(pool: pg.Pool): Promise<void> {
  await migrateIdentity(pool);
  await migrate(pool, 'identity-saml', samlMigrations);
  await migrateApproval(pool);
  await migrateLeases(pool);
  await migrateOAuthKeys(pool);
  await migrateAudit(pool);
  await migrateConsole(pool);
}

/** Grants each `<prefix>_<service>` role its store's tables, and reading the migration record. */
export async function grantStores(pool: pg.Pool, prefix: string, services: readonly ServiceName[]): Promise<void> {
  for (const s of services) {
    const role = ident(`${prefix}_${s}`);
    await pool.query(`GRANT SELECT ON airlock_migrations TO ${role}`);
    for (const g of storeGrants[s]) await pool.query(`GRANT ${g.privileges} ON ${ident(g.table)} TO ${role}`);
    for (const q of storeSequences[s] ?? []) await pool.query(`GRANT USAGE ON SEQUENCE ${ident(q)} TO ${role}`);
  }
}

/** `airlock migrate`: applies every store's schema as the owner, so that no running service needs DDL rights. */
export async function migrateCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { roles: { type: 'string' } }, strict: true });
  const common = readEnv(env, commonEnv);
  await ensureDatabase(common.databaseUrl);
  const pool = new pg.Pool({ connectionString: common.databaseUrl, max: 1 });
  try {
    await migrateAll(pool);
    out('schema up to date');
    if (values.roles) {
      const { serviceNames } = await import('../stack.js');
      await grantStores(pool, values.roles, serviceNames);
      out(`granted each ${values.roles}_<service> role its store`);
    }
    return 0;
  } finally {
    await pool.end();
  }
}
