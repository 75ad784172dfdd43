/**
 * The whole Airlock stack on the demo config in a process of its own, as `airlock up` runs it, so that its memory is
 * measured apart from the clients of a benchmark; with its own demo and state databases, subject root and lease roles,
 * all removed by `close()`. Optionally with the Snowflake emulator as the `warehouse` connection and a second
 * connection to the demo database that mints a credential for every statement.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { seedDemoDatabase, serviceNames, startDemoWarehouse } from '@airlock/cli';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { databaseUrl, deleteStream, dropDatabase, ephemeralPorts, rolesWithPrefix, withoutDemoSignIn } from '@airlock/testkit';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ProcessStackOptions {
  /** the Snowflake emulator (its own database) as the `warehouse` connection */
  warehouse?: boolean;
  /** the name of a second connection to the demo database with `leases.mode: statement` */
  statementConnection?: string;
  /** a third connection to the demo database with `leases.mode: statement` and a pool of this many credentials */
  /** `open`: the upstream connections the proxy keeps open ahead under standby credentials (`leases.pool.open`) */
  pooledStatementConnection?: { name: string; size: number; open?: number };
  /**
   * The proxy in a process of its own and the other services in another (as `airlock run proxy` beside the rest),
   * instead of everything in one process as `airlock up` runs it. `pid` and the memory readings are then the proxy's.
   */
  proxyApart?: boolean;
}

export interface ProcessStack {
  pid: number;
  ports: Record<string, number>;
  /** the lease role prefix of the demo connection */
  prefix: string;
  /** the demo database itself, as its administrator (the direct path of a benchmark) */
  demoUrl: string;
  /** the emulator's URL and administrator key, with `warehouse: true` */
  warehouse?: { url: string; adminPrivateKeyPem: string };
  token(subject: string, groups: string[]): Promise<string>;
  /** Airlock's PostgreSQL front door for `connection` (the database name picks it; default `demo`) */
  pgUrl(token: string, connection?: string): string;
  /** the stack process's resident memory, in MB */
  rssMb(): number;
  /** the stack process's peak resident memory so far (VmHWM), in MB */
  peakMb(): number;
  /**
   * The stack process's resident memory after a full garbage collection, in MB: what it really holds. Plain RSS of a
   * Node process is a sawtooth (under a steady point-select load it climbs from 200 to 350 MB between major
   * collections), so comparing two plain readings says when the collector last ran, not whether memory came back.
   */
  settledRssMb(): Promise<number>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

export async function startProcessStack(name: string, options: ProcessStackOptions = {}): Promise<ProcessStack> {
  const suffix = randomBytes(4).toString('hex');
  const demoDb = `airlock_${name}_demo_${suffix}`;
  const stateDb = `airlock_${name}_state_${suffix}`;
  const prefix = `airlock_${name.slice(0, 1)}${suffix}_`;
  const statementPrefix = `airlock_${name.slice(0, 1)}${suffix}s_`;
  const pooledPrefix = `airlock_${name.slice(0, 1)}${suffix}p_`;
  const subjectRoot = `${name}${suffix}`;
  const demoUrl = databaseUrl(demoDb);
  const whDb = `airlock_${name}_wh_${suffix}`;
  await seedDemoDatabase(demoUrl);
  const warehouse = options.warehouse ? await startDemoWarehouse({ databaseUrl: databaseUrl(whDb) }) : undefined;
  // the console's demo sign-in runs only under `airlock up`
  const config = withoutDemoSignIn(parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>);
  config['connections']['demo']['adminUrl'] = demoUrl;
  config['connections']['demo']['leases']['rolePrefix'] = prefix;
  if (warehouse) config['connections']['warehouse']['leases']['rolePrefix'] = prefix;
  else delete config['connections']['warehouse'];
  if (options.statementConnection) {
    // the same database, minting a credential for every statement
    // with a role prefix of its own that neither prefix starts: each connection's reconciliation revokes every role
    // under its prefix that it holds no lease for, so a shared (or nested) prefix on one database would have each
    // connection revoke the other's credentials
    const demo = config['connections']['demo'];
    config['connections'][options.statementConnection] = { ...demo, leases: { ...demo['leases'], mode: 'statement', rolePrefix: statementPrefix } };
  }
  if (options.pooledStatementConnection) {
    const demo = config['connections']['demo'];
    const { name: connection, size, open } = options.pooledStatementConnection;
    config['connections'][connection] = { ...demo, leases: { ...demo['leases'], mode: 'statement', rolePrefix: pooledPrefix, pool: { size, ...(open ? { open } : {}) } } };
  }
  const dir = mkdtempSync(join(tmpdir(), `airlock-${name}-`));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const env = {
    DATABASE_URL: databaseUrl(stateDb),
    AIRLOCK_CONFIG: configPath,
    AIRLOCK_SUBJECT_ROOT: subjectRoot,
    AIRLOCK_LOG_LEVEL: 'warn',
    ...ephemeralPorts,
    AIRLOCK_DEMO: '1',
    AIRLOCK_STATE_DIR: join(dir, 'state'),
    ...(warehouse ? { AIRLOCK_WAREHOUSE_URL: warehouse.url, AIRLOCK_WAREHOUSE_ADMIN_KEY: warehouse.adminPrivateKeyPem } : {}),
  };
  // the benchmark's stack collects garbage when sent SIGUSR2 (settledRssMb); nothing in Airlock handles that signal
  // (on every thread of the stack); otherwise the process runs exactly what `airlock up` runs (`upApart`)
  const boot = (names?: string[]) =>
    "import { startStack, upApart } from '@airlock/cli'; " +
    `const s = await startStack(process.env, { apart: upApart${names ? `, names: ${JSON.stringify(names)}` : ''} }); ` +
    "process.on('SIGUSR2', () => s.collectGarbage()); console.log('PORTS ' + JSON.stringify(s.ports));";
  const launch = async (names?: string[]): Promise<{ child: ChildProcess; ports: Record<string, number> }> => {
    const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', boot(names)], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // the stack's own log (warnings and errors), kept when asked for: the place to see why a benchmark case failed
    const logPath = process.env['AIRLOCK_BENCH_STACK_LOG'];
    if (logPath) {
      child.stdout!.on('data', (d: Buffer) => appendFileSync(logPath, d));
      child.stderr!.on('data', (d: Buffer) => appendFileSync(logPath, d));
    }
    const started = Date.now();
    while (!/^PORTS (.*)$/m.test(out)) {
      if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`airlock did not start:\n${out.slice(-2000)}`);
      await sleep(100);
    }
    return { child, ports: JSON.parse(/^PORTS (.*)$/m.exec(out)![1]!) as Record<string, number> };
  };
  // apart: the other services first (the proxy needs identity, policy and credential to answer its first client)
  const rest = options.proxyApart ? await launch(serviceNames.filter((n) => n !== 'proxy')) : undefined;
  const { child, ports: own } = await launch(options.proxyApart ? ['proxy'] : undefined);
  const children = [child, ...(rest ? [rest.child] : [])];
  const ports = { ...rest?.ports, ...own };
  const pid = child.pid!;
  const key = await loadOrCreateDevKey(env);
  const settings = devIssuerSettings(parseConfig(readFileSync(configPath, 'utf8')));
  return {
    pid,
    ports,
    prefix,
    token: (subject, groups) => mintDevToken(key, settings, { subject, groups }),
    demoUrl,
    ...(warehouse ? { warehouse: { url: warehouse.url, adminPrivateKeyPem: warehouse.adminPrivateKeyPem } } : {}),
    pgUrl: (token, connection = 'demo') => `postgresql://agent:${token}@127.0.0.1:${ports['pgwire']}/${connection}?sslmode=disable`,
    rssMb: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    peakMb: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    settledRssMb: async () => {
      // twice: the first collection's pages are swept (and returned) concurrently, after it returns
      for (let i = 0; i < 2; i++) {
        process.kill(pid, 'SIGUSR2');
        await sleep(1000);
      }
      return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    },
    close: async () => {
      for (const c of children) {
        if (c.exitCode === null) {
          c.kill('SIGTERM');
          await new Promise((r) => c.once('exit', r));
        }
      }
      if (warehouse) {
        await warehouse.close();
        await warehouse.emulator.dropBackingRoles();
        await dropDatabase(whDb);
      }
      await deleteStream(subjectRoot);
      for (const role of [...(await rolesWithPrefix(prefix)), ...(await rolesWithPrefix(statementPrefix)), ...(await rolesWithPrefix(pooledPrefix))]) {
        const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
        await admin.connect();
        await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
        await admin.end();
      }
      await dropDatabase(demoDb);
      await dropDatabase(stateDb);
    },
  };
}
