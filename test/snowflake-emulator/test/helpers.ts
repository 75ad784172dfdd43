/**
 * Test fixtures: a fresh PostgreSQL database per test file, an emulator on port 0, and promise wrappers around the
 * real snowflake-sdk (callbacks in, exact values and errors out).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { startEmulator, type Emulator, type EmulatorOptions } from '../src/index.js';

/** The server's own `postgres` database on the server of DATABASE_URL (which names a state database that need not exist). */
export const ADMIN_URL = (() => {
  const u = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  u.pathname = '/postgres';
  return u.toString();
})();
export const ACCOUNT = 'AIRLOCK_DEMO';
export const ADMIN_USER = 'AIRLOCK_ADMIN';
export const ADMIN_PASSWORD = 'admin-password-for-tests';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

export interface KeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  /** RSA_PUBLIC_KEY value: base64 SPKI body without PEM armour. */
  publicKeyBody: string;
}

export function rsaKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem,
    publicKeyBody: publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''),
  };
}

export interface Fixture {
  emulator: Emulator;
  databaseUrl: string;
  adminKey: KeyPair;
  /** A superuser connection to the fixture database, for setting up tables. */
  pg: pg.Client;
  cleanup(): Promise<void>;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function createFixture(extra: Partial<EmulatorOptions> = {}): Promise<Fixture> {
  const db = `sfemu_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const databaseUrl = withDatabase(ADMIN_URL, db);
  const adminKey = rsaKeyPair();
  const emulator = await startEmulator({
    databaseUrl,
    account: ACCOUNT,
    adminUser: ADMIN_USER,
    adminPassword: ADMIN_PASSWORD,
    adminPublicKeyPem: adminKey.publicKeyPem,
    ...extra,
  });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    emulator,
    databaseUrl,
    adminKey,
    pg: client,
    async cleanup() {
      await client.end().catch(() => undefined);
      await emulator.close();
      await emulator.dropBackingRoles();
      const a = new pg.Client({ connectionString: ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.end();
    },
  };
}

export type Connection = snowflake.Connection;
export type ConnectionOptions = snowflake.ConnectionOptions;

/** The error shape snowflake-sdk hands to callbacks. */
export interface SfError extends Error {
  code?: string | number;
  sqlState?: string;
  data?: Record<string, unknown>;
}

export function connect(url: string, options: Partial<ConnectionOptions>): Promise<Connection> {
  const conn = snowflake.createConnection({ account: ACCOUNT, accessUrl: url, ...options } as ConnectionOptions);
  return new Promise((resolve, reject) => {
    conn.connect((err) => (err ? reject(err) : resolve(conn)));
  });
}

export function connectAdmin(url: string): Promise<Connection> {
  return connect(url, { username: ADMIN_USER, password: ADMIN_PASSWORD });
}

/** Connect and return the driver's error (the test expects a refusal). */
export async function connectError(url: string, options: Partial<ConnectionOptions>): Promise<SfError> {
  try {
    const c = await connect(url, options);
    await destroy(c);
  } catch (err) {
    return err as SfError;
  }
  throw new Error('connection unexpectedly succeeded');
}

export type Row = Record<string, unknown>;

export function exec(conn: Connection, sqlText: string, binds?: unknown[], extra: Record<string, unknown> = {}): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    conn.execute({
      sqlText,
      binds: binds as snowflake.Binds,
      ...extra,
      complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as Row[])),
    });
  });
}

/** Execute and return the statement too (query id, updated-row count). */
export function execStatement(
  conn: Connection,
  sqlText: string,
  extra: Record<string, unknown> = {},
): Promise<{ stmt: snowflake.RowStatement; rows: Row[] }> {
  return new Promise((resolve, reject) => {
    conn.execute({
      sqlText,
      ...extra,
      complete: (err, stmt, rows) => (err ? reject(err) : resolve({ stmt, rows: (rows ?? []) as Row[] })),
    });
  });
}

export async function execError(conn: Connection, sqlText: string, binds?: unknown[]): Promise<SfError> {
  try {
    await exec(conn, sqlText, binds);
  } catch (err) {
    return err as SfError;
  }
  throw new Error(`statement unexpectedly succeeded: ${sqlText}`);
}

export function destroy(conn: Connection): Promise<void> {
  return new Promise((resolve, reject) => conn.destroy((err) => (err ? reject(err) : resolve())));
}

/** The driver's current tokens, read from its serialized state (the only public way it exposes them). */
export function tokensOf(conn: Connection): { sessionToken: string; masterToken: string } {
  const state = JSON.parse(conn.serialize()) as { services: { sf: { tokenInfo: { sessionToken: string; masterToken: string } } } };
  return state.services.sf.tokenInfo;
}
