/** The emulator's public contract; other parts of Airlock start and inspect it exactly through these types. */
import type { HistoryStatus } from './store.js';

export interface EmulatorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface EmulatorOptions {
  /** PostgreSQL database that holds the emulated account's tables (schema public = Snowflake schema PUBLIC). */
  databaseUrl: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral); the chosen port is in the returned url. */
  port?: number;
  /** Account name, e.g. 'AIRLOCK_DEMO' (compared case-insensitively). */
  account: string;
  /** Snowflake database name reported in sessionInfo/rowtype, default 'DEMO'. */
  database?: string;
  /** The account admin user; it has role ACCOUNTADMIN which may do everything. */
  adminUser: string;
  /** Password login for the admin. */
  adminPassword?: string;
  /** Key-pair login for the admin (SPKI PEM). */
  adminPublicKeyPem?: string;
  /** External OAuth security integration. */
  externalOAuth?: { jwksUrl: string; issuer: string; audience: string; userClaim: string };
  /** Prefix of the PostgreSQL roles that back Snowflake roles; default derived from the database name. */
  rolePrefix?: string;
  logger?: EmulatorLogger;
  /** Session token lifetime (default 3600 s); short values let tests exercise token renewal. */
  sessionValiditySeconds?: number;
  /** Master token lifetime (default 14400 s). */
  masterValiditySeconds?: number;
  /** How long a query request or result poll is held before answering "in progress" (333333); default 45000 ms. */
  /** rows answered inline before the rest goes out as chunk URLs, as Snowflake does for large results (default 1000) */
  inlineRows?: number;
  /** rows per result chunk (default 100000) */
  chunkRows?: number;
  resultWaitMs?: number;
}

export interface Emulator {
  /** http://host:port */
  url: string;
  /** Stops HTTP, ends sessions, closes pools (does not drop roles). */
  close(): Promise<void>;
  users(): Promise<Array<{ name: string; disabled: boolean; type: string; defaultRole: string | null }>>;
  queryHistory(): Promise<
    Array<{ queryId: string; user: string; role: string; queryTag: string | null; sqlText: string; status: HistoryStatus }>
  >;
  activeSessions(): Promise<Array<{ sessionId: string; user: string; role: string }>>;
  /** Drops the PostgreSQL roles it created (tests call this in cleanup). */
  dropBackingRoles(): Promise<void>;
}
