import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { consoleApis, consoleResource, demoConfigPath, parseConfig, type AirlockConfig } from '@airlock/config';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { createLogger, ensureDatabase, newContext, streamName, type Bus, type Logger, type ServiceDefinition } from '@airlock/runtime';
import { seedDemoDatabase, startDemoSignIn, startDemoWarehouse, type DemoSignIn, type DemoWarehouse } from '@airlock/demo';
import { startStack, type Stack, type ServiceName } from '@airlock/stack';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken, type DevTokenOptions } from '@airlock/identity';

import { freePort } from './servers.js';

export { startNatsServer, startPostgresCluster, freePort, type OwnServer, type PostgresClusterOptions } from './servers.js';

/** Every listening port of every service set to 0 (ephemeral), so stacks of parallel test files never collide. */
export const ephemeralPorts: Readonly<Record<string, string>> = Object.freeze({
  AIRLOCK_PGWIRE_PORT: '0',
  AIRLOCK_HTTP_PORT: '0',
  AIRLOCK_IDENTITY_PORT: '0',
  AIRLOCK_AUDIT_PORT: '0',
  AIRLOCK_APPROVAL_PORT: '0',
  AIRLOCK_CREDENTIAL_PORT: '0',
  AIRLOCK_CONSOLE_PORT: '0',
  AIRLOCK_METRICS_PORT: '0',
});

export const natsUrl = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
export const serverUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A random lower-case suffix for names that must not collide between test files running at once. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** A URL for another database on the same server as DATABASE_URL. */
export function databaseUrl(name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a fresh, empty database; `drop()` removes it, ending its connections. */
export async function freshDatabase(prefix = 'airlock_t'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${uniqueSuffix()}`;
  const url = databaseUrl(name);
  await ensureDatabase(url);
  return { name, url, drop: () => dropDatabase(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/**
 * Removes the demo's sign-in to the console (the console section and the issuer of the demo's OIDC provider, which
 * only `airlock up` runs) from a parsed demo config, in place: the services then run as they do without a console.
 */
export function withoutDemoSignIn(config: Record<string, any>): Record<string, any> {
  const issuer = config['console']?.['oidc']?.['issuer'] as string | undefined;
  delete config['console'];
  if (issuer) config['identity']['issuers'] = config['identity']['issuers'].filter((i: { issuer: string }) => i.issuer !== issuer);
  return config;
}

/** Roles (cluster-wide) whose names start with the prefix. */
export async function rolesWithPrefix(prefix: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1', [prefix]);
    return rows.map((r) => r.rolname);
  } finally {
    await admin.end();
  }
}

/** Backends logged in as any role with the prefix. */
export async function backendsWithPrefix(prefix: string): Promise<number> {
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE starts_with(usename, $1)', [prefix]);
    return Number(rows[0]!.n);
  } finally {
    await admin.end();
  }
}

/** Collected log lines of a stack, for assertions that no secret was logged. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream = new PassThrough();
  constructor() {
    let rest = '';
    this.stream.on('data', (d: Buffer) => {
      const parts = (rest + d.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      this.lines.push(...parts.filter(Boolean));
    });
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestStackOptions {
  /** change the demo config (parsed YAML object) before it is written */
  configure?: (config: Record<string, any>) => void;
  env?: Record<string, string>;
  /** the services to start, by name; default: every service */
  names?: readonly ServiceName[];
  /** the services to start, by definition (a service's own tests pass its definition alone): instead of `names` */
  services?: readonly ServiceDefinition[];
  /** services that run on worker threads of their own, as `airlock up` runs the proxy (their logs are not captured) */
  apart?: readonly ServiceName[];
  /** keep the Snowflake `warehouse` connection, served by an emulator started for the test */
  keepWarehouse?: boolean;
  /** make the emulator trust an External-OAuth issuer (Airlock's credential service JWKS) with pre-created users */
  warehouseOAuth?: { jwksUrl: string; issuer: string; audience: string; users: Record<string, string> };
  /**
   * keep the demo config's console, signed in to through the demo's own OIDC provider (started for the test, as
   * `airlock up` starts it). Without it the console section and the provider's issuer are removed.
   */
  demoConsole?: boolean;
}

export interface TestStack {
  stack: Stack;
  env: Record<string, string>;
  root: string;
  rolePrefix: string;
  stateDb: string;
  demoDb: string;
  demoUrl: string;
  logs: LogCapture;
  logger: Logger;
  configPath: string;
  ports: Record<string, number>;
  /** the Snowflake emulator behind the `warehouse` connection, with `keepWarehouse` */
  warehouse: DemoWarehouse | undefined;
  /** the PostgreSQL database under the emulator */
  warehouseUrl: string | undefined;
  /** the demo's OIDC provider and its people, with `demoConsole` */
  signIn: DemoSignIn | undefined;
  /** the console's URL, with `demoConsole` */
  consoleUrl: string | undefined;
  token(options: DevTokenOptions): Promise<string>;
  /** a connection string for the PostgreSQL front door */
  pgUrl(token: string, database?: string): string;
  /** audit events stored in the state database in the order they were appended; `where` is SQL over `audit_events` */
  auditRows(where?: string, args?: unknown[]): Promise<Array<{ seq: string; event_type: string; payload: any }>>;
  close(): Promise<void>;
}

/**
 * The whole Airlock stack on the real NATS and PostgreSQL, isolated for one test file: its own state and demo
 * databases, subject root, lease role prefix and ports.
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const suffix = uniqueSuffix();
  const root = `t${suffix}`;
  const rolePrefix = `airlock_t${suffix}_`;
  const stateDb = `airlock_state_${suffix}`;
  const demoDb = `airlock_demo_${suffix}`;
  const demoUrl = databaseUrl(demoDb);
  await seedDemoDatabase(demoUrl);
  let warehouse: DemoWarehouse | undefined;
  const warehouseDb = `airlock_wh_${suffix}`;
  if (options.keepWarehouse) {
    warehouse = await startDemoWarehouse({ databaseUrl: databaseUrl(warehouseDb), ...(options.warehouseOAuth ? { externalOAuth: options.warehouseOAuth } : {}) });
  }
  const config = parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>;
  config['connections']['demo']['adminUrl'] = demoUrl;
  config['connections']['demo']['leases']['rolePrefix'] = rolePrefix;
  if (options.keepWarehouse) config['connections']['warehouse']['leases']['rolePrefix'] = rolePrefix;
  else delete config['connections']['warehouse'];
  const demoIssuer = config['console']?.['oidc']?.['issuer'] as string | undefined;
  let signIn: DemoSignIn | undefined;
  let consoleUrl: string | undefined;
  const consoleEnv: Record<string, string> = {};
  if (options.demoConsole) {
    if (!demoIssuer) throw new Error('demoConsole: the demo config has no console.oidc section to sign in through');
    // the console's redirect URI is registered with the provider before either starts: its port is chosen first
    const consolePort = await freePort();
    consoleUrl = `http://127.0.0.1:${consolePort}`;
    const oidc = config['console']['oidc'];
    oidc['redirectUri'] = `${consoleUrl}/auth/oidc/callback`;
    // the APIs' audiences, as the console will ask for them (read before `configure`, like the rest of the demo sign-in)
    const resources = consoleApis.map((api) => consoleResource(config as AirlockConfig, api));
    signIn = await startDemoSignIn({ port: 0, clientId: oidc['clientId'], redirectUri: oidc['redirectUri'], resources });
    oidc['issuer'] = signIn.issuer;
    for (const i of config['identity']['issuers']) if (i['issuer'] === demoIssuer) i['issuer'] = signIn.issuer;
    Object.assign(consoleEnv, { AIRLOCK_CONSOLE_PORT: String(consolePort), AIRLOCK_CONSOLE_SESSION_SECRET: randomBytes(32).toString('base64url') });
  } else {
    withoutDemoSignIn(config);
  }
  options.configure?.(config);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const configPath = join(dir, 'config.yaml');
  const text = stringify(config);
  parseConfig(text, configPath);
  writeFileSync(configPath, text);
  const env: Record<string, string> = {
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl(stateDb),
    AIRLOCK_CONFIG: configPath,
    AIRLOCK_SUBJECT_ROOT: root,
    AIRLOCK_LOG_LEVEL: 'info',
    ...ephemeralPorts,
    AIRLOCK_CREDENTIAL_SWEEP_SECONDS: '1',
    // each stack its own keys, secrets and audit checkpoints, as each deployment has
    AIRLOCK_STATE_DIR: join(dir, 'state'),
    // the demo config's development issuer runs only in demo mode
    AIRLOCK_DEMO: '1',
    ...(warehouse ? { AIRLOCK_WAREHOUSE_URL: warehouse.url, AIRLOCK_WAREHOUSE_ADMIN_KEY: warehouse.adminPrivateKeyPem } : {}),
    ...consoleEnv,
    ...options.env,
  };
  const logs = new LogCapture();
  const logger = createLogger({ service: 'airlock', level: 'info', destination: logs.stream });
  let stack: Stack;
  try {
    stack = await startStack(env, { logger, ...(options.services ? { services: options.services } : options.names ? { names: options.names } : {}), ...(options.apart ? { apart: options.apart } : {}) });
  } catch (err) {
    await signIn?.close();
    throw err;
  }
  const pool = new pg.Pool({ connectionString: env['DATABASE_URL'], max: 2 });
  const parsed = parseConfig(text, configPath);
  const key = await loadOrCreateDevKey(env);
  const settings = devIssuerSettings(parsed);
  return {
    stack,
    env,
    root,
    rolePrefix,
    stateDb,
    demoDb,
    demoUrl,
    logs,
    logger,
    configPath,
    ports: stack.ports,
    warehouse,
    warehouseUrl: warehouse ? databaseUrl(warehouseDb) : undefined,
    signIn,
    consoleUrl,
    token: (o) => mintDevToken(key, settings, o),
    auditRows: async (where = 'true', args = []) =>
      (await pool.query<{ seq: string; event_type: string; payload: any }>(`SELECT seq, event_type, payload FROM audit_events WHERE ${where} ORDER BY seq`, args)).rows,
    pgUrl: (token, database = 'demo') => `postgresql://agent:${encodeURIComponent(token)}@127.0.0.1:${stack.ports['pgwire']}/${database}?sslmode=disable`,
    close: async () => {
      await stack.close();
      await signIn?.close();
      await pool.end();
      await deleteStream(root);
      await dropRoles(rolePrefix);
      if (warehouse) {
        await warehouse.close();
        await warehouse.emulator.dropBackingRoles();
        await dropDatabase(warehouseDb);
      }
      await dropDatabase(demoDb);
      await dropDatabase(stateDb);
    },
  };
}

async function dropRoles(prefix: string): Promise<void> {
  for (const role of await rolesWithPrefix(prefix)) {
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
    await admin.end();
  }
}

/**
 * A lease minted as the proxy mints one, on a stack running the policy and credential services: policy's signed
 * decision for an analyst's read of `orders` on `demo`, then `credential.v1.issue` for `holder`.
 */
export async function issueDemoLease(bus: Bus, options: { requestId: string; holder: string; subject: string }): Promise<credentialV1.LeaseGrant> {
  const { requestId, holder } = options;
  const sessionId = `s-${requestId}`;
  const principal = { subject: options.subject, issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };
  const d = await bus.call(policyV1.decide, { requestId, sessionId, principal, connection: 'demo', sql: 'SELECT id FROM orders', frontend: 'pgwire' }, newContext());
  return bus.call(credentialV1.issueLease, { requestId, sessionId, connection: 'demo', principal, scope: d.scope!, holder, decision: d.token! }, newContext(), {
    timeoutMs: 20_000,
  });
}

/** Removes a test root's event stream. */
export async function deleteStream(root: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(streamName(root)).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Sends `sql` through the PostgreSQL front door on a statement that policy holds for approval: resolves with the
 * approval id from the hold's NoticeResponse, and the query's outcome.
 */
export function heldForApproval(c: pg.Client, sql: string): { approvalId: Promise<string>; result: Promise<pg.QueryResult> } {
  const approvalId = new Promise<string>((resolve) => {
    c.once('notice', (n) => resolve(/request ([0-9a-f-]{36})/.exec(n.message ?? '')![1]!));
  });
  const result = c.query(sql);
  result.catch(() => undefined);
  return { approvalId, result };
}
