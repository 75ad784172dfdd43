import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { credentialV1 } from '@airlock/contracts';
import type { CredentialEngine, MintInput } from './engine.js';
import { scramVerifier } from './scram.js';

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

/** PBKDF2 iterations of a lease password's SCRAM verifier: the password is random (192 bits), see `mint`. */
export const LEASE_SCRAM_ITERATIONS = 1;

/**
 * Opens the transaction that gives a lease its rights, committed without waiting for the flush: what a crash of the
 * upstream server could lose is a grant (the role then has fewer rights, or none), never a revocation, whose commits
 * keep the server's own setting. The commit is visible at once, so the proxy's login that follows sees it. (A pg pool
 * client whose message fails is discarded, so a failed block never reaches another query.)
 */
const GRANTING = 'BEGIN; SET LOCAL synchronous_commit = off;';

/** The SQLSTATE the one-round-trip revocation raises when the lease role has dependencies in another database. */
const ELSEWHERE = 'AL001';

/** What revocation does with objects a lease created: hand them to a powerless role, or drop them. */
export interface LeftoverPolicy {
  leftovers: 'reassign' | 'drop';
  leftoverRole: string;
}

export const defaultLeftovers: LeftoverPolicy = { leftovers: 'reassign', leftoverRole: 'airlock_leftovers' };

/** How the credential service and the proxy reach an upstream PostgreSQL: TLS unless the configuration says otherwise. */
export type UpstreamTls = { ssl: false } | { ssl: true; ca?: string };

/**
 * TLS with the server's certificate verified (host name included) unless the admin URL says `sslmode=disable` or the
 * connection says `tls: disable`. Modes that fall back to clear text on their own (`allow`, `prefer`) are refused:
 * whether credentials cross the network in clear is a decision to write down, not a negotiation. `sslrootcert=<file>`
 * names the CA of a private certificate.
 */
export function resolveUpstreamTls(adminUrl: string, configured?: 'verify-full' | 'disable'): UpstreamTls {
  const url = new URL(adminUrl);
  const mode = url.searchParams.get('sslmode');
  if (mode === 'allow' || mode === 'prefer') {
    throw new Error(`sslmode=${mode} may fall back to clear text: use sslmode=verify-full (the default), or sslmode=disable to connect in clear text explicitly`);
  }
  if (mode !== null && !['disable', 'require', 'verify-ca', 'verify-full'].includes(mode)) throw new Error(`unknown sslmode=${mode}`);
  const urlSaysClear = mode === 'disable';
  const urlSaysTls = mode !== null && mode !== 'disable';
  if ((configured === 'disable' && urlSaysTls) || (configured === 'verify-full' && urlSaysClear)) {
    throw new Error(`the connection's tls: ${configured} contradicts the admin URL's sslmode=${mode}`);
  }
  if (urlSaysClear || configured === 'disable') return { ssl: false };
  const rootCert = url.searchParams.get('sslrootcert');
  return rootCert ? { ssl: true, ca: readFileSync(rootCert, 'utf8') } : { ssl: true };
}

/** The pg connection settings for a URL: TLS settings given explicitly, never parsed by pg from the URL. */
function pgTarget(adminUrl: string, tls: UpstreamTls): { connectionString: string; ssl: false | { rejectUnauthorized: true; ca?: string } } {
  const url = new URL(adminUrl);
  for (const k of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl']) url.searchParams.delete(k);
  return { connectionString: url.toString(), ssl: tls.ssl ? { rejectUnauthorized: true, ...(tls.ca ? { ca: tls.ca } : {}) } : false };
}

/** A clear error when TLS is required and the server does not offer it (pg's own message names no server). */
function explainTls(err: unknown, target: { host: string; port: number }): never {
  if (err instanceof Error && /does not support SSL/i.test(err.message)) {
    throw new Error(
      `the upstream PostgreSQL at ${target.host}:${target.port} does not offer TLS, which Airlock requires by default: enable TLS on the server, or say sslmode=disable in the admin URL (or tls: disable on the connection) to connect in clear text`,
    );
  }
  throw err;
}

/** PostgreSQL credentials: an ephemeral LOGIN role per lease, member of the scope role, with a VALID UNTIL backstop. */
export class PostgresEngine implements CredentialEngine {
  readonly type = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #target: { host: string; port: number; database: string; ssl: boolean; sslRootCert?: string };
  readonly #adminUrl: string;
  readonly #tls: UpstreamTls;
  readonly #leftovers: LeftoverPolicy;

  constructor(adminUrl: string, leftovers: LeftoverPolicy = defaultLeftovers, tls?: 'verify-full' | 'disable') {
    this.#leftovers = leftovers;
    const url = new URL(adminUrl);
    this.#tls = resolveUpstreamTls(adminUrl, tls);
    this.#target = {
      host: url.hostname,
      port: Number(url.port || 5432),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      ssl: this.#tls.ssl,
      ...(this.#tls.ssl && this.#tls.ca ? { sslRootCert: this.#tls.ca } : {}),
    };
    this.#adminUrl = adminUrl;
    // bounded waits (the connection timeout includes queueing for a pooled client under a burst of revocations):
    // an unreachable upstream fails the attempt, which is retried, instead of holding a lease lock forever
    this.#pool = new pg.Pool({ ...pgTarget(adminUrl, this.#tls), max: 8, application_name: 'airlock-credential', connectionTimeoutMillis: 20_000, query_timeout: 30_000 });
    this.#pool.on('error', () => undefined);
  }

  async mint(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']> {
    const password = randomBytes(24).toString('base64url');
    // the role exists only for this lease: login until the backstop, member of the scope role, inheriting its grants.
    // The verifier is computed here with one PBKDF2 iteration: iterations slow down guessing a human password, and this
    // one is 192 random bits, which no number of guesses reaches. One iteration saves the 4096 at mint (no server-side
    // hashing either, the verifier is stored as sent) and the 4096 of the SCRAM exchange at every login with it.
    await this.#pool.query(
      `${GRANTING} CREATE ROLE ${ident(input.username)} LOGIN INHERIT NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 8 ` +
        `PASSWORD ${literal(scramVerifier(password, LEASE_SCRAM_ITERATIONS))} VALID UNTIL ${literal(input.expiresAt.toISOString())} IN ROLE ${ident(input.role)}; COMMIT`,
    ).catch((err: unknown) => explainTls(err, this.#target));
    return { type: 'postgres', ...this.#target, password };
  }

  /**
   * Roles for the pool: NOLOGIN (under `trust` authentication a password is no barrier, so login itself is off), no
   * password, CONNECTION LIMIT 0, member of nothing. Each holds no right and no one can become it until `mintPooled`.
   */
  async createPooled(usernames: readonly string[]): Promise<void> {
    // one message, one implicit transaction: a batch costs one round trip, and exists whole or not at all
    const sql = usernames.map((u) => `CREATE ROLE ${ident(u)} NOLOGIN INHERIT NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 0`);
    await this.#pool.query(sql.join('; ')).catch((err: unknown) => explainTls(err, this.#target));
  }

  /**
   * A pooled role becomes the lease's credential, the same as `mint` makes: login until the backstop with a fresh
   * one-iteration verifier, the connection limit, membership of the scope role. One message, one implicit transaction:
   * the role is either all of that or still powerless. Measured on the local server, 200 each, server time: CREATE ROLE
   * … IN ROLE 0.28–0.38 ms, ALTER ROLE with the member already granted 0.24–0.32 ms, ALTER and GRANT 0.27–0.29 ms:
   * granting the membership only here costs nothing measurable, and keeps the pooled role a member of nothing.
   */
  async mintPooled(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']> {
    const password = randomBytes(24).toString('base64url');
    await this.#pool.query(
      `${GRANTING} ALTER ROLE ${ident(input.username)} LOGIN CONNECTION LIMIT 8 PASSWORD ${literal(scramVerifier(password, LEASE_SCRAM_ITERATIONS))} ` +
        `VALID UNTIL ${literal(input.expiresAt.toISOString())}; GRANT ${ident(input.role)} TO ${ident(input.username)}; COMMIT`,
    ).catch((err: unknown) => explainTls(err, this.#target));
    return { type: 'postgres', ...this.#target, password };
  }

  /**
   * Standby: a pooled role may log in, one session (the proxy's), with a fresh one-iteration verifier; it is still a
   * member of nothing, so that session reads what PUBLIC may and nothing granted to a scope role. Committed without
   * waiting for the flush: a crash that lost it leaves the role unable to log in.
   */
  async standby(inputs: ReadonlyArray<{ username: string; expiresAt: Date }>): Promise<Array<credentialV1.LeaseGrant['upstream']>> {
    const passwords = inputs.map(() => randomBytes(24).toString('base64url'));
    const sql = inputs.map(
      (input, i) =>
        `ALTER ROLE ${ident(input.username)} LOGIN CONNECTION LIMIT 1 PASSWORD ${literal(scramVerifier(passwords[i]!, LEASE_SCRAM_ITERATIONS))} ` +
        `VALID UNTIL ${literal(input.expiresAt.toISOString())}`,
    );
    await this.#pool.query(`${GRANTING} ${sql.join('; ')}; COMMIT`).catch((err: unknown) => explainTls(err, this.#target));
    return passwords.map((password) => ({ type: 'postgres' as const, ...this.#target, password }));
  }

  /** The lease's role, granted to a standby role whose session is open already: the only step left in its path. */
  async grantStandby(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']> {
    await this.#pool.query(`${GRANTING} GRANT ${ident(input.role)} TO ${ident(input.username)}; COMMIT`).catch((err: unknown) => explainTls(err, this.#target));
    // the proxy is connected already: no secret travels again
    return { type: 'postgres', ...this.#target, password: '' };
  }

  async revoke(username: string): Promise<{ terminatedSessions: number }> {
    const client = await this.#pool.connect().catch((err: unknown) => explainTls(err, this.#target));
    let broken: Error | undefined;
    try {
      // the common case (nothing of the role in another database) in one round trip; the rest step by step
      const fast = await this.#revokeInOneTrip(client, username);
      if ('terminatedSessions' in fast) return fast;
      // copies of the service and reconciliation may revoke the same role at once: one at a time per role, cluster-wide
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`airlock-revoke:${username}`]);
      try {
        const rest = await this.#revokeLocked(client, username);
        return { terminatedSessions: fast.terminatedBefore + rest.terminatedSessions };
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`airlock-revoke:${username}`]).catch(() => undefined);
      }
    } catch (err) {
      // a role that vanished meanwhile is revoked; anything else is retried by the caller
      if ((err as { code?: string }).code === '42704') return { terminatedSessions: 0 };
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Revocation as one simple-query message, in the same order as the step-by-step path: the first transaction commits
   * NOLOGIN (so no new session can start once it returns), the second ends the role's sessions (waiting for each to
   * exit, so its temporary objects are gone), hands over or drops what the role owns and drops the role. Both take the
   * per-role advisory lock of the step-by-step path, as transaction locks. Returns `terminatedBefore`, having changed
   * nothing but the NOLOGIN and the sessions, when the role has dependencies in another database (the step-by-step
   * path connects there) or a name the statement cannot carry.
   */
  async #revokeInOneTrip(client: pg.PoolClient, username: string): Promise<{ terminatedSessions: number } | { terminatedBefore: number }> {
    // the name goes into a dollar-quoted block: one that could close the quote takes the other path
    if (username.includes('$')) return { terminatedBefore: 0 };
    const lock = `SELECT pg_advisory_xact_lock(hashtextextended(${literal(`airlock-revoke:${username}`)}, 0))`;
    const role = this.#leftovers.leftoverRole;
    const reassign = this.#leftovers.leftovers === 'reassign';
    const body = `
DECLARE
  u text := ${literal(username)};
  leftover text := ${literal(role)};
  terminated int := 0;
  live int;
  ok boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(${literal(`airlock-revoke:${username}`)}, 0));
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = u) THEN
    PERFORM set_config('airlock.revoke_terminated', '0', true);
    RETURN;
  END IF;
  FOR i IN 0..20 LOOP
    live := 0;
    -- pg_stat_activity is read once per transaction unless told otherwise: see the backends as they are now
    PERFORM pg_stat_clear_snapshot();
    -- waits up to 2 s for each backend to exit, so its temporary objects are gone before the drop
    FOR ok IN SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity WHERE usename = u AND pid <> pg_backend_pid() LOOP
      live := live + 1;
      IF ok THEN terminated := terminated + 1; END IF;
    END LOOP;
    EXIT WHEN live = 0;
    IF i = 20 THEN RAISE EXCEPTION '% session(s) of the lease role would not end', live; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
              WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = u)
                AND d.datname <> current_database() AND d.datallowconn) THEN
    -- the sessions ended here count towards the revocation the step-by-step path completes
    RAISE EXCEPTION 'the lease role has dependencies in another database' USING ERRCODE = '${ELSEWHERE}', DETAIL = terminated::text;
  END IF;
  ${
    reassign
      ? `IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = leftover) THEN
    -- copies revoking at once: one creates it
    PERFORM pg_advisory_xact_lock(hashtextextended(${literal(`airlock-leftovers:${role}`)}, 0));
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = leftover) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', leftover);
    END IF;
  ELSIF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = leftover AND (r.rolcanlogin OR r.rolsuper
                 OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid OR m.member = r.oid))) THEN
    -- a role someone gave rights or members to is not a safe place for what a lease left behind
    RAISE EXCEPTION 'the leftover role "%" can log in, is a superuser or has members; give leases.leftoverRole a role without any', leftover;
  END IF;
  EXECUTE format('REASSIGN OWNED BY %I TO %I', u, leftover);`
      : ''
  }
  EXECUTE format('DROP OWNED BY %I', u);
  EXECUTE format('DROP ROLE %I', u);
  PERFORM set_config('airlock.revoke_terminated', terminated::text, true);
END`;
    const sql =
      `BEGIN; ${lock}; ALTER ROLE ${ident(username)} NOLOGIN CONNECTION LIMIT 0; COMMIT; ` +
      `DO $airlock_revoke$${body}$airlock_revoke$; SELECT current_setting('airlock.revoke_terminated') AS n`;
    try {
      const results = (await client.query(sql)) as unknown as pg.QueryResult<{ n: string }>[];
      return { terminatedSessions: Number(results[results.length - 1]!.rows[0]!.n) };
    } catch (err) {
      // an error inside the first transaction leaves its explicit block open and failed: close it before the
      // connection goes back to the pool (outside a block this is a no-op)
      await client.query('ROLLBACK');
      if ((err as { code?: string }).code === ELSEWHERE) return { terminatedBefore: Number((err as { detail?: string }).detail ?? 0) };
      throw err;
    }
  }

  async #revokeLocked(client: pg.PoolClient, username: string): Promise<{ terminatedSessions: number }> {
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
    if (exists.rowCount === 0) return { terminatedSessions: 0 };
    // first no new session can start, then the live ones (and their running queries) end, then the role goes
    await client.query(`ALTER ROLE ${ident(username)} NOLOGIN CONNECTION LIMIT 0`);
    let terminated = 0;
    for (let i = 0; ; i++) {
      const { rows } = await client.query<{ ok: boolean }>(
        // waits up to 2 s for each backend to exit, so its temporary objects are gone before the drop
        'SELECT pg_terminate_backend(pid, 2000) AS ok FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
        [username],
      );
      terminated += rows.filter((r) => r.ok).length;
      if (rows.length === 0) break;
      if (i >= 20) throw new Error(`${rows.length} session(s) of the lease role would not end`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // objects the lease owns or was granted in other databases of the cluster block DROP ROLE there: clear them first
    const { rows: elsewhere } = await client.query<{ datname: string }>(
      `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
          AND d.datname <> current_database() AND d.datallowconn`,
      [username],
    );
    for (const { datname } of elsewhere) {
      const url = new URL(this.#adminUrl);
      url.pathname = `/${encodeURIComponent(datname)}`;
      const other = new pg.Client({ ...pgTarget(url.toString(), this.#tls), connectionTimeoutMillis: 5000, application_name: 'airlock-credential' });
      await other.connect().catch((err: unknown) => explainTls(err, this.#target));
      try {
        await this.#dropOwned(other, username);
      } finally {
        await other.end().catch(() => undefined);
      }
    }
    await this.#dropOwned(client, username);
    await client.query(`DROP ROLE IF EXISTS ${ident(username)}`);
    return { terminatedSessions: terminated };
  }

  /**
   * What the lease created goes to the powerless leftover role (or is dropped), never to the admin: a SECURITY
   * DEFINER function or a view left behind must not run with the admin's rights. What it was granted goes with it.
   */
  async #dropOwned(client: pg.ClientBase, username: string): Promise<void> {
    if (this.#leftovers.leftovers === 'reassign') {
      await this.#ensureLeftoverRole(client);
      await client.query(`REASSIGN OWNED BY ${ident(username)} TO ${ident(this.#leftovers.leftoverRole)}`);
    }
    await client.query(`DROP OWNED BY ${ident(username)}`);
  }

  /** The leftover role: no login, no inheritance, no membership, no privilege; created once per cluster. */
  async #ensureLeftoverRole(client: pg.ClientBase): Promise<void> {
    const role = this.#leftovers.leftoverRole;
    const { rows } = await client.query<{ rolcanlogin: boolean; rolsuper: boolean; members: number }>(
      `SELECT r.rolcanlogin, r.rolsuper, (SELECT count(*)::int FROM pg_auth_members m WHERE m.roleid = r.oid OR m.member = r.oid) AS members
         FROM pg_roles r WHERE r.rolname = $1`,
      [role],
    );
    if (rows.length === 0) {
      // copies revoking at once: one creates it
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`airlock-leftovers:${role}`]);
      try {
        await client.query(
          `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${literal(role)}) THEN ` +
            `CREATE ROLE ${ident(role)} NOLOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; END IF; END $$`,
        );
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`airlock-leftovers:${role}`]);
      }
      return;
    }
    const r = rows[0]!;
    // a role someone gave rights or members to is not a safe place for what a lease left behind
    if (r.rolcanlogin || r.rolsuper || r.members > 0) {
      throw new Error(`the leftover role "${role}" can log in, is a superuser or has members; give leases.leftoverRole a role without any`);
    }
  }

  async listWithPrefix(prefix: string): Promise<string[]> {
    const { rows } = await this.#pool.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname",
      [prefix],
    ).catch((err: unknown) => explainTls(err, this.#target));
    return rows.map((r) => r.rolname);
  }

  async catalog(): Promise<credentialV1.CatalogResponse['tables']> {
    const { rows } = await this.#pool.query<{ schema: string; table: string; columns: string[] }>(
      `SELECT c.table_schema AS schema, c.table_name AS table, array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
         FROM information_schema.columns c
        WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
        GROUP BY 1, 2 ORDER BY 1, 2`,
    ).catch((err: unknown) => explainTls(err, this.#target));
    return rows;
  }

  searchPath(): string[] {
    return ['public'];
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
