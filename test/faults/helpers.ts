import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { seedDemoDatabase } from '@airlock/cli';
import { databaseUrl, startTestStack, type OwnServer, type TestStack, type TestStackOptions } from '@airlock/testkit';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Roles with the prefix on the server of `url` (roles are cluster-wide). */
export function rolesAt(url: string, prefix: string): Promise<string[]> {
  return withClient(url, async (c) =>
    (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1', [prefix])).rows.map((r) => r.rolname),
  );
}

/** Backends logged in as a role with the prefix on the server of `url`. */
export function backendsAt(url: string, prefix: string): Promise<number> {
  return withClient(url, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE starts_with(usename, $1)', [prefix])).rows[0]!.n));
}

/** Statements of lease roles that are running now (not idle) on the server of `url`. */
export function runningAt(url: string, prefix: string): Promise<number> {
  return withClient(url, async (c) =>
    Number((await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE starts_with(usename, $1) AND state = 'active'", [prefix])).rows[0]!.n),
  );
}

export interface AuditRow {
  seq: string;
  event_type: string;
  payload: any;
}

export function auditEvents(t: TestStack, types: string[]): Promise<AuditRow[]> {
  return withClient(databaseUrl(t.stateDb), async (c) =>
    (await c.query<AuditRow>('SELECT seq, event_type, payload FROM audit_events WHERE event_type = ANY($1) ORDER BY seq', [types])).rows,
  );
}

export function leaseRows(t: TestStack): Promise<Array<{ id: string; username: string; state: string; revoke_reason: string | null; revoke_attempts: number }>> {
  return withClient(databaseUrl(t.stateDb), async (c) => (await c.query('SELECT id, username, state, revoke_reason, revoke_attempts FROM leases ORDER BY created_at')).rows);
}

/** Polls until `check` is true; the milliseconds it took, or an error naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Prints one line of measured times so the run's output carries them. */
export function report(label: string, ms: number[]): void {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(`[faults] ${label}: n=${sorted.length} median=${Math.round(median)} ms worst=${Math.round(sorted[sorted.length - 1]!)} ms`);
}

/**
 * The test stack on the test's own NATS (and, when given, its own PostgreSQL cluster holding the demo data), with
 * short heartbeat, grace and sweep settings so that timing faults resolve within seconds.
 */
export async function startFaultStack(
  options: { nats: OwnServer; demoServer?: { databaseUrl(name: string): string }; env?: Record<string, string> } & Omit<TestStackOptions, 'env'>,
): Promise<TestStack & { demoAdminUrl: string }> {
  let demoAdminUrl: string | undefined;
  if (options.demoServer) {
    demoAdminUrl = options.demoServer.databaseUrl('airlock_demo');
    await seedDemoDatabase(demoAdminUrl);
  }
  const t = await startTestStack({
    ...options,
    configure: (c) => {
      c['proxy'] = { ...c['proxy'], heartbeatSeconds: 1 };
      if (demoAdminUrl) c['connections']['demo']['adminUrl'] = demoAdminUrl;
      options.configure?.(c);
    },
    env: {
      NATS_URL: options.nats.url,
      AIRLOCK_CREDENTIAL_SWEEP_SECONDS: '1',
      AIRLOCK_HEARTBEAT_GRACE_SECONDS: '5',
      AIRLOCK_LOG_LEVEL: 'warn',
      AIRLOCK_METRICS_PORT: '0',
      ...options.env,
    },
  });
  return Object.assign(t, { demoAdminUrl: demoAdminUrl ?? t.demoUrl });
}

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  /** resolves when the output has a line matching `pattern` */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill9(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `airlock run <service>` in its own process, as an operator runs it. */
export function spawnService(name: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['packages/cli/bin/airlock.js', 'run', name], {
    cwd: repoRoot,
    // an ephemeral metrics port: copies and restarts must not collide on a service's default one
    env: { PATH: process.env['PATH'] ?? '', AIRLOCK_METRICS_PORT: '0', ...env, AIRLOCK_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern, timeoutMs = 20_000) =>
      waitUntil(async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited: ${out.slice(-2000)}`);
        return pattern.test(out);
      }, timeoutMs, `${name} to log ${pattern}`).then(() => undefined),
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Holds an exclusive lock on `orders` in the demo database, so that a lease's `SELECT … FROM orders` stays running
 * upstream (waiting on the lock) for as long as the test needs: a long query without burning a core.
 * (`pg_sleep` would be simpler, but policy refuses it: it holds a lease open.)
 */
export async function holdOrdersLock(demoAdminUrl: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: demoAdminUrl });
  await c.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
  return {
    release: async () => {
      await c.query('ROLLBACK').catch(() => undefined);
      await c.end().catch(() => undefined);
    },
  };
}

/** Ends a client's socket without the protocol's goodbye (no Terminate message), as a crashed client does. */
export function vanish(client: pg.Client): void {
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
}
