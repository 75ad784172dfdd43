/**
 * Airlock against the direct path, in one run on this machine: point queries (per-session and per-statement leases,
 * 1 and 16 clients), the floor of a per-statement credential, a 1,000,000-row masked stream with the proxy's peak
 * memory, the Snowflake path through the emulator, the policy decision (cold and cached), and the audit writers
 * (one and two, draining a filled stream into PostgreSQL).
 * Prints a table and writes test/bench/results/bench.json.
 *
 * Run: npm run bench   (needs the NATS and PostgreSQL of NATS_URL / DATABASE_URL; starts its own Airlock process)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import Cursor from 'pg-cursor';
import snowflake from 'snowflake-sdk';
import { parse, stringify } from 'yaml';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { seedDemoDatabase, startDemoWarehouse } from '@airlock/cli';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { evaluate, initParsers, staticCatalog, AnalysisCache } from '@airlock/policy';
import { databaseUrl, deleteStream, dropDatabase, rolesWithPrefix, ephemeralPorts, withoutDemoSignIn } from '@airlock/testkit';
import { auditThroughput } from './audit-throughput.js';

snowflake.configure({ logLevel: 'OFF' } as Parameters<typeof snowflake.configure>[0]);

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const seconds = Number(process.env['AIRLOCK_BENCH_SECONDS'] ?? 5);

interface Row {
  case: string;
  path: 'direct' | 'airlock' | 'floor';
  clients: number;
  ops: number;
  opsPerSecond: number;
  medianMs: number;
  p99Ms: number;
  extra?: Record<string, number | string>;
}
const rows: Row[] = [];

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

/** Runs `op` in `clients` parallel loops for the configured time; each loop owns one connection. */
async function load(clients: number, open: () => Promise<{ op: () => Promise<void>; close: () => Promise<void> }>): Promise<{ ops: number; latencies: number[]; elapsed: number }> {
  const conns = await Promise.all(Array.from({ length: clients }, open));
  for (const c of conns) for (let i = 0; i < 20; i++) await c.op(); // warm up
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    conns.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        await c.op();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(conns.map((c) => c.close()));
  return { ops: latencies.length, latencies, elapsed };
}

function record(name: string, path: Row['path'], clients: number, r: { ops: number; latencies: number[]; elapsed: number }, extra?: Row['extra']) {
  rows.push({ case: name, path, clients, ops: r.ops, opsPerSecond: r.ops / r.elapsed, medianMs: quantile(r.latencies, 0.5), p99Ms: quantile(r.latencies, 0.99), ...(extra ? { extra } : {}) });
}

async function pgClient(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

const point = (c: pg.Client) => async () => {
  const id = 1 + Math.floor(Math.random() * 200);
  const r = await c.query('SELECT id, customer_id, total FROM orders WHERE id = $1', [id]);
  if (r.rowCount !== 1) throw new Error('point query returned no row');
};

/** Starts `airlock up` as its own process, so its memory is measured apart from the clients. */
async function startAirlock(env: Record<string, string>): Promise<{ child: ChildProcess; pgPort: number; httpPort: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(root, 'packages/cli/bin/airlock.js'), 'up'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', () => undefined);
  const deadline = Date.now() + 60_000;
  while (!/PostgreSQL front door\s+127\.0\.0\.1:(\d+)/.test(out) || !/HTTP front doors\s+http:\/\/127\.0\.0\.1:(\d+)/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`airlock did not start:\n${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pgPort = Number(/PostgreSQL front door\s+127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const httpPort = Number(/HTTP front doors\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
  return {
    child,
    pgPort,
    httpPort,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Peak resident memory of a process so far (VmHWM), in MB. */
function peakMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function currentMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function streamRows(url: string, sql: string): Promise<{ rows: number; seconds: number }> {
  const c = await pgClient(url);
  const t = performance.now();
  const cursor = c.query(new Cursor(sql, [], { rowMode: 'array' }));
  let n = 0;
  for (;;) {
    const batch = await cursor.read(10_000);
    if (batch.length === 0) break;
    n += batch.length;
  }
  await cursor.close();
  const s = (performance.now() - t) / 1000;
  await c.end();
  return { rows: n, seconds: s };
}

function snowflakeConnect(options: Record<string, unknown>): Promise<snowflake.Connection> {
  const c = snowflake.createConnection(options as unknown as snowflake.ConnectionOptions);
  return new Promise((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve(c))));
}
function snowflakeQuery(c: snowflake.Connection, sqlText: string, binds: number[]): Promise<unknown[]> {
  return new Promise((resolve, reject) =>
    c.execute({ sqlText, binds, complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }),
  );
}

async function main(): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const demoDb = `airlock_bench_demo_${suffix}`;
  const stateDb = `airlock_bench_state_${suffix}`;
  const whDb = `airlock_bench_wh_${suffix}`;
  const prefix = `airlock_b${suffix}_`;
  const subjectRoot = `bench${suffix}`;
  const demoUrl = databaseUrl(demoDb);
  await seedDemoDatabase(demoUrl);
  const warehouse = await startDemoWarehouse({ databaseUrl: databaseUrl(whDb) });

  const config = withoutDemoSignIn(parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>);
  config['connections']['demo']['adminUrl'] = demoUrl;
  config['connections']['demo']['leases']['rolePrefix'] = prefix;
  config['connections']['warehouse']['leases']['rolePrefix'] = prefix;
  // the same database, minting a credential for every statement
  config['connections']['demo_stmt'] = { ...config['connections']['demo'], leases: { ...config['connections']['demo']['leases'], mode: 'statement' } };
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const env = {
    DATABASE_URL: databaseUrl(stateDb),
    AIRLOCK_CONFIG: configPath,
    AIRLOCK_SUBJECT_ROOT: subjectRoot,
    AIRLOCK_LOG_LEVEL: 'warn',
    ...ephemeralPorts,
    AIRLOCK_WAREHOUSE_URL: warehouse.url,
    AIRLOCK_WAREHOUSE_ADMIN_KEY: warehouse.adminPrivateKeyPem,
    // the demo config's development issuer runs only in demo mode
    AIRLOCK_DEMO: '1',
    AIRLOCK_STATE_DIR: join(dirname(configPath), 'state'),
  };
  const airlock = await startAirlock(env);
  const statePool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 1 });
  const key = await loadOrCreateDevKey(env);
  const token = await mintDevToken(key, devIssuerSettings(parseConfig(readFileSync(configPath, 'utf8'))), { subject: 'bench', groups: ['analysts'] });
  const viaAirlock = (db = 'demo') => `postgresql://bench:${token}@127.0.0.1:${airlock.pgPort}/${db}?sslmode=disable`;

  try {
    for (const clients of [1, 16]) {
      const open = (url: string) => async () => {
        const c = await pgClient(url);
        return { op: point(c), close: () => c.end() };
      };
      record('point query, lease per session', 'direct', clients, await load(clients, open(demoUrl)));
      record('point query, lease per session', 'airlock', clients, await load(clients, open(viaAirlock())));
      record('point query, lease per statement', 'airlock', clients, await load(clients, open(viaAirlock('demo_stmt'))));
    }

    // the floor of a per-statement credential, measured directly: create a role, connect as it, query, drop it
    const admin = await pgClient(demoUrl);
    record(
      'per-statement credential floor (create role, connect, query, drop)',
      'floor',
      1,
      await load(1, async () => ({
        op: async () => {
          // not under the lease prefix: Airlock's reconciliation would rightly treat such a role as an orphan
          const name = `bench_floor_${suffix}_${randomBytes(6).toString('hex')}`;
          await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD 'floor-password' VALID UNTIL 'infinity' IN ROLE demo_reader`);
          const u = new URL(demoUrl);
          u.username = name;
          u.password = 'floor-password';
          const c = await pgClient(u.toString());
          await point(c)();
          await c.end();
          await admin.query(`DROP ROLE ${name}`);
        },
        close: async () => undefined,
      })),
    );
    await admin.end();

    // a masked stream: every customer row repeated, so email, phone, card and SSN are masked and notes scanned
    const stream = (n: number) => `SELECT c.id, c.name, c.email, c.phone, c.card_number, c.ssn, c.notes FROM customers c, generate_series(1, ${n / 50}) g`;
    const direct = await streamRows(demoUrl, stream(1_000_000));
    rows.push({ case: '1,000,000-row stream, masked', path: 'direct', clients: 1, ops: direct.rows, opsPerSecond: direct.rows / direct.seconds, medianMs: NaN, p99Ms: NaN });
    const baseline = currentMb(airlock.child.pid!);
    const small = await streamRows(viaAirlock(), stream(200_000));
    const peakSmall = peakMb(airlock.child.pid!);
    const large = await streamRows(viaAirlock(), stream(1_000_000));
    const peakLarge = peakMb(airlock.child.pid!);
    rows.push({
      case: '1,000,000-row stream, masked',
      path: 'airlock',
      clients: 1,
      ops: large.rows,
      opsPerSecond: large.rows / large.seconds,
      medianMs: NaN,
      p99Ms: NaN,
      extra: { proxyRssBeforeMb: Math.round(baseline), proxyPeakAfter200kRowsMb: Math.round(peakSmall), proxyPeakAfter1MRowsMb: Math.round(peakLarge), rows200kPerSecond: Math.round(small.rows / small.seconds) },
    });

    // Snowflake: the same point query straight to the emulator (as an analyst service user) and through Airlock
    try {
      const direct = async () => {
        const c = await snowflakeConnect({ account: 'AIRLOCK_DEMO', accessUrl: warehouse.url, username: 'AIRLOCK_ADMIN', authenticator: 'SNOWFLAKE_JWT', privateKey: warehouse.adminPrivateKeyPem });
        return { op: async () => void (await snowflakeQuery(c, 'SELECT id, customer_id, total FROM orders WHERE id = ?', [1 + Math.floor(Math.random() * 200)])), close: () => new Promise<void>((r) => c.destroy(() => r())) };
      };
      const through = async () => {
        const c = await snowflakeConnect({ account: 'warehouse', accessUrl: `http://127.0.0.1:${airlock.httpPort}`, authenticator: 'OAUTH', token });
        return { op: async () => void (await snowflakeQuery(c, 'SELECT id, customer_id, total FROM orders WHERE id = ?', [1 + Math.floor(Math.random() * 200)])), close: () => new Promise<void>((r) => c.destroy(() => r())) };
      };
      record('Snowflake point query (emulator)', 'direct', 1, await load(1, direct));
      record('Snowflake point query (emulator)', 'airlock', 1, await load(1, through));
    } catch (err) {
      console.error(`Snowflake path not measured: ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    await airlock.stop();
    await statePool.end();
    await warehouse.close();
    await warehouse.emulator.dropBackingRoles();
    await deleteStream(subjectRoot);
    for (const r of await rolesWithPrefix(prefix)) {
      const c = await pgClient(databaseUrl('postgres'));
      await c.query(`DROP ROLE IF EXISTS "${r}"`).catch(() => undefined);
      await c.end();
    }
    for (const db of [demoDb, stateDb, whDb]) await dropDatabase(db);
  }

  // policy decision, in process: cold (first analysis) and cached (the same text again)
  await initParsers();
  const catalog = staticCatalog({
    'public.customers': ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'],
    'public.orders': ['id', 'customer_id', 'total', 'created_at'],
  });
  const cfg = parseConfig(readFileSync(demoConfigPath, 'utf8'));
  const principal = { subject: 'bench', issuer: 'bench', groups: ['analysts'] };
  const cache = new AnalysisCache();
  const cold: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const sql = `SELECT c.name, c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.id = ${i}`;
    let t = performance.now();
    evaluate({ config: cfg, principal, connection: 'demo', sql, catalog, requestId: 'b', cache });
    cold.push((performance.now() - t) * 1000);
    t = performance.now();
    evaluate({ config: cfg, principal, connection: 'demo', sql, catalog, requestId: 'b', cache });
    cached.push((performance.now() - t) * 1000);
  }
  rows.push({ case: 'policy decision, new statement (in process)', path: 'airlock', clients: 1, ops: cold.length, opsPerSecond: NaN, medianMs: quantile(cold, 0.5) / 1000, p99Ms: quantile(cold, 0.99) / 1000 });
  rows.push({ case: 'policy decision, same statement again (cached)', path: 'airlock', clients: 1, ops: cached.length, opsPerSecond: NaN, medianMs: quantile(cached, 0.5) / 1000, p99Ms: quantile(cached, 0.99) / 1000 });

  // the audit log: events appended per second by one writer and by two (each its own partition), durable before acked
  const audit = await auditThroughput();
  for (const r of audit.rows) {
    rows.push({
      case: 'audit append (events durable in PostgreSQL, then acked)',
      path: 'airlock',
      clients: r.writers,
      ops: r.events,
      opsPerSecond: r.eventsPerSecond,
      medianMs: NaN,
      p99Ms: NaN,
      extra: r.writers > 1 ? { writers: r.writers, vsOneWriter: `${audit.ratio.toFixed(2)}×` } : { writers: r.writers },
    });
  }

  report();
}

function report(): void {
  const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '—');
  const lines = ['| case | path | clients | ops | ops/s | median ms | p99 ms | vs direct |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const direct = rows.find((d) => d.case === r.case && d.path === 'direct' && d.clients === r.clients);
    const ratio = direct && r !== direct ? `${fmt(r.opsPerSecond / direct.opsPerSecond)}× throughput, +${fmt(r.medianMs - direct.medianMs, 3)} ms median` : '';
    const floor = r.case.startsWith('point query, lease per statement') ? rows.find((f) => f.path === 'floor') : undefined;
    const vsFloor = floor ? `${fmt(r.medianMs / floor.medianMs)}× the credential floor` : '';
    const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${v}`).join(' ') : '';
    lines.push(`| ${r.case} | ${r.path} | ${r.clients} | ${r.ops} | ${fmt(r.opsPerSecond, 0)} | ${fmt(r.medianMs, 3)} | ${fmt(r.p99Ms, 3)} | ${[ratio, vsFloor, extra].filter(Boolean).join('; ')} |`);
  }
  console.log(lines.join('\n'));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'bench.json'), JSON.stringify({ when: new Date().toISOString(), secondsPerCase: seconds, rows }, null, 2));
}

await main();
