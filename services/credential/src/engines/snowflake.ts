import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import snowflake from 'snowflake-sdk';
import { SignJWT, importJWK, type JWK } from 'jose';
import { expandEnv, type SnowflakeConnection } from '@airlock/config';
import type { credentialV1 } from '@airlock/contracts';
import type { CredentialEngine, MintInput } from './engine.js';

type CryptoKey = webcrypto.CryptoKey;

snowflake.configure({ logLevel: 'OFF' } as Parameters<typeof snowflake.configure>[0]);

/** Snowflake identifiers Airlock creates are upper-case letters, digits and underscores only: safe to splice. */
function ident(name: string): string {
  if (!/^[A-Z_][A-Z0-9_$]*$/i.test(name)) throw new Error('unsafe Snowflake identifier');
  return name.toUpperCase();
}

export interface OAuthSigner {
  /** signs a short-lived External-OAuth token for a pre-created user and role */
  sign(claims: { user: string; role: string; audience: string; issuer: string; expiresAt: Date }): Promise<string>;
  jwks(): { keys: JWK[] };
}

/**
 * Snowflake credentials through the admin principal (key pair), two strategies:
 * `ephemeral-user` creates a TYPE=SERVICE user with a fresh RSA key and the scope role, and drops it on revoke;
 * `external-oauth` signs a short-lived JWT for a pre-created user (`scp: session:role:<ROLE>`).
 */
export class SnowflakeEngine implements CredentialEngine {
  readonly type = 'snowflake' as const;
  readonly #conn: SnowflakeConnection;
  readonly #env: Record<string, string | undefined>;
  readonly #signer: OAuthSigner | undefined;
  #admin: Promise<snowflake.Connection> | undefined;

  constructor(conn: SnowflakeConnection, env: Record<string, string | undefined>, signer?: OAuthSigner) {
    this.#conn = conn;
    this.#env = env;
    this.#signer = signer;
  }

  get strategy(): 'ephemeral-user' | 'external-oauth' {
    return this.#conn.strategy ?? 'ephemeral-user';
  }

  #accessUrl(): string {
    return this.#conn.accessUrl ? expandEnv(this.#conn.accessUrl, this.#env) : `https://${this.#conn.account}.snowflakecomputing.com`;
  }

  #adminConnection(): Promise<snowflake.Connection> {
    this.#admin ??= (async () => {
      const a = this.#conn.admin;
      const privateKey = a.privateKey ? expandEnv(a.privateKey, this.#env) : a.privateKeyPath ? readFileSync(expandEnv(a.privateKeyPath, this.#env), 'utf8') : undefined;
      const connection = snowflake.createConnection({
        account: this.#conn.account,
        accessUrl: this.#accessUrl(),
        username: a.user,
        ...(privateKey ? { authenticator: 'SNOWFLAKE_JWT', privateKey } : { password: expandEnv(a.password ?? '', this.#env) }),
        ...(a.role ? { role: a.role } : {}),
        ...(this.#conn.warehouse ? { warehouse: this.#conn.warehouse } : {}),
      } as snowflake.ConnectionOptions);
      await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
      return connection;
    })();
    this.#admin.catch(() => (this.#admin = undefined));
    return this.#admin;
  }

  async #run(sqlText: string): Promise<Array<Record<string, unknown>>> {
    const connection = await this.#adminConnection();
    return new Promise((resolve, reject) => {
      connection.execute({
        sqlText,
        complete: (err, _stmt, rows) => {
          if (err) {
            // a dead admin session is re-opened on the next call
            if (/session|token|terminated/i.test(err.message)) this.#admin = undefined;
            reject(new Error(`Snowflake admin statement failed: ${err.message}`));
          } else resolve((rows ?? []) as Array<Record<string, unknown>>);
        },
      });
    });
  }

  async mint(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']> {
    const base = {
      type: 'snowflake' as const,
      account: this.#conn.account,
      accessUrl: this.#accessUrl(),
      role: input.role,
      ...(this.#conn.warehouse ? { warehouse: this.#conn.warehouse } : {}),
      ...(this.#conn.database ? { database: this.#conn.database } : {}),
      ...(this.#conn.schema ? { schema: this.#conn.schema } : {}),
    };
    if (this.strategy === 'external-oauth') {
      const oauth = this.#conn.externalOAuth!;
      const user = oauth.users[input.role] ?? oauth.users[input.role.toUpperCase()];
      if (!user || !this.#signer) throw new Error(`no pre-created user is configured for role ${input.role}`);
      const token = await this.#signer.sign({ user, role: input.role, audience: oauth.audience, issuer: oauth.issuer, expiresAt: input.expiresAt });
      return { ...base, authenticator: 'OAUTH', token };
    }
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicBody = publicKey.export({ type: 'spki', format: 'pem' }).toString().replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    const days = Math.max(1, Math.ceil((input.expiresAt.getTime() - Date.now()) / 86_400_000));
    const user = ident(input.username);
    const role = ident(input.role);
    await this.#run(
      `CREATE USER ${user} TYPE = SERVICE RSA_PUBLIC_KEY = '${publicBody}' DEFAULT_ROLE = ${role} DAYS_TO_EXPIRY = ${days} COMMENT = 'Airlock lease'`,
    );
    await this.#run(`GRANT ROLE ${role} TO USER ${user}`);
    return { ...base, authenticator: 'SNOWFLAKE_JWT', privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  async revoke(username: string, upstreamSessions: readonly string[] = []): Promise<{ terminatedSessions: number }> {
    if (this.strategy === 'external-oauth') {
      // The user is shared with other leases of the role, so it cannot be disabled: the lease's own sessions are
      // ended one by one (running queries cancelled, then the session aborted), and its token expires by itself no
      // later than the lease.
      return { terminatedSessions: await this.endSessions(upstreamSessions) };
    }
    const user = ident(username);
    const existing = await this.#run(`SHOW USERS LIKE '${user}'`);
    if (existing.length === 0) return { terminatedSessions: 0 };
    await this.#run(`ALTER USER ${user} SET DISABLED = TRUE`);
    await this.#run(`ALTER USER ${user} ABORT ALL QUERIES`);
    await this.#run(`DROP USER IF EXISTS ${user}`);
    return { terminatedSessions: 0 };
  }

  /** Cancels the running queries of each session, then aborts it (`SYSTEM$ABORT_SESSION`); idempotent. */
  async endSessions(sessionIds: readonly string[]): Promise<number> {
    let ended = 0;
    for (const id of new Set(sessionIds)) {
      if (!/^[0-9]{1,20}$/.test(id)) throw new Error('unsafe Snowflake session id');
      await this.#run(`SELECT SYSTEM$CANCEL_ALL_QUERIES(${id})`);
      await this.#run(`SELECT SYSTEM$ABORT_SESSION(${id})`);
      ended += 1;
    }
    return ended;
  }

  async listWithPrefix(prefix: string): Promise<string[]> {
    if (this.strategy === 'external-oauth') return [];
    const rows = await this.#run(`SHOW USERS LIKE '${ident(prefix)}%'`);
    return rows.map((r) => String(r['name'] ?? r['NAME'] ?? '')).filter((n) => n.toUpperCase().startsWith(prefix.toUpperCase()));
  }

  async catalog(): Promise<credentialV1.CatalogResponse['tables']> {
    const schema = (this.#conn.schema ?? 'PUBLIC').replace(/'/g, "''");
    const rows = await this.#run(
      `SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE upper(table_schema) = upper('${schema}') ORDER BY table_schema, table_name, ordinal_position`,
    );
    const tables = new Map<string, { schema: string; table: string; columns: string[] }>();
    for (const r of rows) {
      const s = String(r['TABLE_SCHEMA'] ?? r['table_schema']);
      const t = String(r['TABLE_NAME'] ?? r['table_name']);
      const key = `${s}.${t}`;
      if (!tables.has(key)) tables.set(key, { schema: s, table: t, columns: [] });
      tables.get(key)!.columns.push(String(r['COLUMN_NAME'] ?? r['column_name']));
    }
    return [...tables.values()];
  }

  searchPath(): string[] {
    return [this.#conn.schema ?? 'PUBLIC'];
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    if (!admin) return;
    const connection = await admin.catch(() => undefined);
    if (connection) await new Promise<void>((resolve) => connection.destroy(() => resolve()));
  }
}

/** An RS256 signer whose key is created once and shared by every credential-service copy through the database. */
export function oauthSigner(privateJwk: JWK, publicJwk: JWK): OAuthSigner {
  let key: Promise<CryptoKey | Uint8Array> | undefined;
  return {
    sign: async ({ user, role, audience, issuer, expiresAt }) => {
      key ??= importJWK(privateJwk, 'RS256') as Promise<CryptoKey | Uint8Array>;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scp: [`session:role:${role}`] })
        .setProtectedHeader({ alg: 'RS256', kid: String(publicJwk.kid) })
        .setIssuer(issuer)
        .setSubject(user)
        .setAudience(audience)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(Math.min(Math.floor(expiresAt.getTime() / 1000), now + 3600))
        .sign(await key);
    },
    jwks: () => ({ keys: [publicJwk] }),
  };
}
