/**
 * Airlock against the direct path and a pooler, in one run on this machine (issue 17's table):
 *
 * - a point select on `customers` driven by `pgbench` (`-M prepared`, a script file): direct PostgreSQL, pgbouncer in
 *   session pooling (when installed), Airlock with a lease per session (everything in one process as `airlock up`
 *   runs it, and the proxy in a process of its own beside the other services) and with a lease per statement, at 1
 *   and 16 clients; each Airlock row as a share of direct and of pgbouncer;
 * - the same paths, and Airlock with a lease per statement drawn from a pool of credentials made ahead
 *   (`leases.pool`), driven by the `pg` client of Node, with the floor of a per-statement credential (create a role,
 *   connect as it, query, drop it) at the same concurrency;
 * - a masked stream of 1,000,000 rows with the proxy's memory, the Snowflake path through the emulator, the policy
 *   decision in process, and the audit writers (one and two).
 *
 * Prints the tables and writes test/bench/results/bench.json and bench.md.
 *
 * Run: npm run bench   (needs the NATS and PostgreSQL of NATS_URL / DATABASE_URL; starts its own Airlock process and
 * pgbouncer). Settings by environment:
 *   AIRLOCK_BENCH_SECONDS       seconds per measured case (default 6; the whole run then takes about 6 minutes)
 *   AIRLOCK_BENCH_STREAM_ROWS   rows of the masked stream (default 1000000)
 *   AIRLOCK_BENCH_AUDIT_EVENTS  events per audit run (default 40000)
 *   AIRLOCK_BENCH_AUDIT_BULK    1: measure a consumer per writer over subjects partitioned by session, acknowledged
 *                               once per batch (a design the audit service does not have yet)
 *   AIRLOCK_BENCH_AUDIT_CEILING 1: first print how fast one consumer drains the stream writing nothing (per-message
 *                               acknowledgements against AckPolicy.All), the bus's own ceiling on the writers
 *   AIRLOCK_BENCH_ONLY          a comma-separated subset of: pgbench,node,floor,stream,snowflake,policy,audit
 *   AIRLOCK_BENCH_PATHS         a comma-separated subset of: direct,pgbouncer,airlock-session,airlock-session-apart,
 *                               airlock-statement,airlock-statement-pool
 *   AIRLOCK_BENCH_CLIENTS       the concurrencies measured (default 1,16)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import Cursor from 'pg-cursor';
import snowflake from 'snowflake-sdk';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { evaluate, initParsers, staticCatalog, AnalysisCache } from '@airlock/policy';
import { freePort } from '@airlock/testkit';
import { auditThroughput } from './audit-throughput.js';
import { quantile, sleep, startProcessStack, type ProcessStack } from './process-stack.js';
import { scramVerifier } from '../../services/credential/src/engines/scram.js';

snowflake.configure({ logLevel: 'OFF' } as Parameters<typeof snowflake.configure>[0]);

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env['AIRLOCK_BENCH_SECONDS'] ?? 6);
const streamRows = Number(process.env['AIRLOCK_BENCH_STREAM_ROWS'] ?? 1_000_000);
const only = new Set((process.env['AIRLOCK_BENCH_ONLY'] ?? 'pgbench,node,floor,stream,snowflake,policy,audit').split(',').map((s) => s.trim()));
const CONCURRENCY = (process.env['AIRLOCK_BENCH_CLIENTS'] ?? '1,16').split(',').map(Number);
/** the paths measured, all unless narrowed (comparing one change in interleaved runs) */
const paths = process.env['AIRLOCK_BENCH_PATHS'] ? new Set(process.env['AIRLOCK_BENCH_PATHS'].split(',').map((s) => s.trim())) : undefined;
/** the connection of the demo database that mints a credential for every statement */
const STATEMENT_CONNECTION = 'demo_stmt';
/** the connection of the demo database that leases a credential per statement from a pool made ahead */
const POOLED_STATEMENT_CONNECTION = 'demo_stmt_pool';
/** the pool's size: more than the most clients measured, so a closed-loop run never drains it */
const POOL_SIZE = 24;
/** the upstream connections the proxy keeps open ahead under pooled credentials: one per client measured at most */
const POOL_OPEN = 16;

type Path = 'direct' | 'pgbouncer' | 'airlock-session' | 'airlock-session-apart' | 'airlock-statement' | 'airlock-statement-pool' | 'floor' | 'airlock';
interface Row {
  case: string;
  client: 'pgbench' | 'node-pg' | 'in-process' | 'snowflake-sdk' | 'audit writer';
  path: Path;
  clients: number;
  ops: number;
  opsPerSecond: number;
  medianMs: number;
  p99Ms: number;
  extra?: Record<string, number | string>;
}
const rows: Row[] = [];
const notes: string[] = [];

const POINT = 'point select on customers';
const PATH_NAMES: Record<Path, string> = {
  direct: 'direct PostgreSQL',
  pgbouncer: 'pgbouncer, session pooling',
  'airlock-session': 'Airlock, lease per session',
  'airlock-session-apart': 'Airlock, lease per session, proxy in its own process',
  'airlock-statement': 'Airlock, lease per statement',
  'airlock-statement-pool': 'Airlock, lease per statement, with pool',
  floor: 'per-statement credential floor (create role, connect, query, drop)',
  airlock: 'Airlock',
};

const pointSql = 'SELECT id, name, email FROM customers WHERE id = $1';
const pointId = () => 1 + Math.floor(Math.random() * 50);

// ---------------------------------------------------------------------------------------------------------------------
// pgbench

/** pgbench's binary: on PATH, or in the PostgreSQL 15 client directory. */
function pgbenchBinary(): string | undefined {
  for (const candidate of ['pgbench', '/usr/lib/postgresql/15/bin/pgbench']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

/**
 * One pgbench run: `clients` connections for the configured seconds, each running the point select as a prepared
 * statement; throughput as pgbench reports it (without connection time), median and p99 from its per-transaction log.
 */
async function pgbench(bin: string, url: string, clients: number): Promise<Omit<Row, 'case' | 'client' | 'path' | 'clients'>> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbench-'));
  try {
    const script = join(dir, 'point.sql');
    writeFileSync(script, '\\set id random(1, 50)\nSELECT id, name, email FROM customers WHERE id = :id;\n');
    const u = new URL(url);
    const args = ['-n', '-M', 'prepared', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-l', '--log-prefix', join(dir, 'tx')];
    args.push('-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username), decodeURIComponent(u.pathname.slice(1)));
    // the password (an Airlock token) goes by environment, never on a command line
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGSSLMODE: 'disable', PGAPPNAME: 'airlock-bench' };
    // warm up first, unmeasured, as the node-pg cases do: 20 transactions per client (a path's first statements pay
    // for cold caches and code not yet optimised, which would otherwise land on whichever case runs first)
    const warmArgs = args.filter((a, i) => !['-T', '-l', '--log-prefix'].includes(a) && !['-T', '--log-prefix'].includes(args[i - 1]!));
    await new Promise((r) => spawn(bin, [...warmArgs, '-t', '20'], { cwd: dir, env, stdio: 'ignore' }).once('exit', r));
    const child = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
    const processed = /number of transactions actually processed: (\d+)/.exec(out);
    if (code !== 0 || !tps || !processed) throw new Error(`pgbench exited with ${code}:\n${out.slice(-1500)}`);
    const latencies: number[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('tx.'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us) && line) latencies.push(us / 1000);
      }
    }
    const failed = /number of failed transactions: (\d+)/.exec(out);
    return {
      ops: Number(processed[1]),
      opsPerSecond: Number(tps[1]),
      medianMs: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      ...(failed && failed[1] !== '0' ? { extra: { failed: Number(failed[1]) } } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// pgbouncer

/** pgbouncer in session pooling in front of the demo database, on a free port, with a generated ini; undefined if absent. */
async function startPgbouncer(demoUrl: string): Promise<{ url: string; version: string; stop: () => Promise<void> } | undefined> {
  const bin = ['/usr/sbin/pgbouncer', 'pgbouncer'].find((b) => spawnSync(b, ['--version']).status === 0);
  if (!bin) return undefined;
  const version = /PgBouncer ([\d.]+)/.exec(spawnSync(bin, ['--version']).stdout.toString())?.[1] ?? '?';
  const upstream = new URL(demoUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbouncer-'));
  // as root pgbouncer switches to the postgres user (-u), which must read these files; it logs to its stderr
  chmodSync(dir, 0o755);
  const user = decodeURIComponent(upstream.username || 'postgres');
  const password = decodeURIComponent(upstream.password);
  const db = decodeURIComponent(upstream.pathname.slice(1));
  const ini = [
    '[databases]',
    `${db} = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${db} user=${user}${password ? ` password=${password}` : ''}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = session',
    'max_client_conn = 200',
    'default_pool_size = 40',
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'pgbouncer.ini'), ini, { mode: 0o644 });
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`, { mode: 0o644 });
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(bin, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const started = Date.now();
  while (!out.includes('process up')) {
    if (Date.now() - started > 10_000 || child.exitCode !== null) {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start:\n${out.slice(-1500)}`);
    }
    await sleep(50);
  }
  return {
    url: `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(db)}`,
    version,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Node clients

/** Runs `op` in `clients` parallel loops for the configured time; each loop owns one connection. */
async function load(clients: number, open: () => Promise<{ op: () => Promise<void>; close: () => Promise<void> }>): Promise<Omit<Row, 'case' | 'client' | 'path' | 'clients'>> {
  const conns = await Promise.all(Array.from({ length: clients }, open));
  // warm up, in parallel: 20 operations per connection, or one second for the slow paths
  const warm = performance.now() + 1000;
  await Promise.all(
    conns.map(async (c) => {
      for (let i = 0; i < 20 && (i === 0 || performance.now() < warm); i++) await c.op();
    }),
  );
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
  return { ops: latencies.length, opsPerSecond: latencies.length / elapsed, medianMs: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

async function pgClient(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  // a connection the far end ended fails its query; the event must not end the whole run
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const point = (c: pg.Client) => async () => {
  const r = await c.query({ name: 'point', text: pointSql, values: [pointId()] });
  if (r.rowCount !== 1) throw new Error('point query returned no row');
};

const openPoint = (url: string) => async () => {
  const c = await pgClient(url);
  return { op: point(c), close: () => c.end() };
};

async function streamRowsVia(url: string, sql: string): Promise<{ rows: number; seconds: number }> {
  const c = await pgClient(url);
  try {
    const t = performance.now();
    const cursor = c.query(new Cursor(sql, [], { rowMode: 'array' }));
    let n = 0;
    for (;;) {
      const batch = await cursor.read(10_000);
      if (batch.length === 0) break;
      n += batch.length;
    }
    await cursor.close();
    return { rows: n, seconds: (performance.now() - t) / 1000 };
  } finally {
    await c.end().catch(() => undefined);
  }
}

function snowflakeConnect(options: Record<string, unknown>): Promise<snowflake.Connection> {
  const c = snowflake.createConnection(options as unknown as snowflake.ConnectionOptions);
  return new Promise((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve(c))));
}
function snowflakeQuery(c: snowflake.Connection, sqlText: string, binds: number[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => c.execute({ sqlText, binds, complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }));
}

// ---------------------------------------------------------------------------------------------------------------------

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function measured(what: string, fn: () => Promise<void>): Promise<void> {
  const t = performance.now();
  try {
    await fn();
  } catch (err) {
    notes.push(`${what}: not measured (${errorText(err).split('\n')[0]})`);
    console.error(`${what}: not measured: ${errorText(err)}`);
  }
  console.error(`[bench] ${what}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  const stack = await startProcessStack('bench', {
    warehouse: only.has('snowflake'),
    statementConnection: STATEMENT_CONNECTION,
    pooledStatementConnection: { name: POOLED_STATEMENT_CONNECTION, size: POOL_SIZE, open: POOL_OPEN },
  });
  const bouncer = only.has('pgbench') || only.has('node') ? await startPgbouncer(stack.demoUrl).catch((err) => void notes.push(`pgbouncer: ${errorText(err).split('\n')[0]}`)) : undefined;
  if (!bouncer && (only.has('pgbench') || only.has('node'))) notes.push('pgbouncer is not installed here: its rows are missing');
  const bin = pgbenchBinary();
  if (!bin && only.has('pgbench')) notes.push('pgbench is not installed here: its rows are missing');
  // a principal per case, so that sessions still closing from one case never count against the next one's limits
  let n = 0;
  const airlockUrl = async (connection: string) => stack.pgUrl(await stack.token(`bench-${++n}`, ['analysts']), connection);
  const targets = async (): Promise<Array<[Path, string]>> =>
    (
      [
        ['direct', stack.demoUrl],
        ...(bouncer ? ([['pgbouncer', bouncer.url]] as Array<[Path, string]>) : []),
        ['airlock-session', await airlockUrl('demo')],
        ['airlock-statement', await airlockUrl(STATEMENT_CONNECTION)],
        ['airlock-statement-pool', await airlockUrl(POOLED_STATEMENT_CONNECTION)],
      ] as Array<[Path, string]>
    ).filter(([path]) => !paths || paths.has(path));

  try {
    if (bin && only.has('pgbench')) {
      for (const clients of CONCURRENCY) {
        for (const [path, url] of await targets()) {
          await measured(`pgbench ${path} ×${clients}`, async () => void rows.push({ case: POINT, client: 'pgbench', path, clients, ...(await pgbench(bin, url, clients)) }));
        }
      }
    }
    if (only.has('node')) {
      for (const clients of CONCURRENCY) {
        for (const [path, url] of await targets()) {
          await measured(`node-pg ${path} ×${clients}`, async () => void rows.push({ case: POINT, client: 'node-pg', path, clients, ...(await load(clients, openPoint(url))) }));
        }
      }
    }
    if ((only.has('pgbench') || only.has('node')) && (!paths || paths.has('airlock-session-apart'))) {
      // the proxy in its own process, the other services in another: the same cases on a second stack
      const apart = await startProcessStack('bencha', { proxyApart: true });
      try {
        // a principal per case, as above
        const url = async () => apart.pgUrl(await apart.token(`bench-apart-${++n}`, ['analysts']), 'demo');
        for (const clients of CONCURRENCY) {
          if (bin && only.has('pgbench')) {
            await measured(`pgbench airlock-session-apart ×${clients}`, async () => void rows.push({ case: POINT, client: 'pgbench', path: 'airlock-session-apart', clients, ...(await pgbench(bin, await url(), clients)) }));
          }
          if (only.has('node')) {
            await measured(`node-pg airlock-session-apart ×${clients}`, async () => void rows.push({ case: POINT, client: 'node-pg', path: 'airlock-session-apart', clients, ...(await load(clients, openPoint(await url()))) }));
          }
        }
      } finally {
        await apart.close();
      }
    }
    if (only.has('floor')) {
      // the floor of a per-statement credential, measured directly with the same one-iteration verifier Airlock sends:
      // create a role, connect as it, query, drop it; at the same concurrency as the rows it is compared with
      for (const clients of CONCURRENCY) {
        await measured(`floor ×${clients}`, async () => {
          const result = await load(clients, async () => {
            const admin = await pgClient(stack.demoUrl);
            return {
              op: async () => {
                // not under the lease prefix: Airlock's reconciliation would rightly treat such a role as an orphan
                const name = `bench_floor_${randomBytes(8).toString('hex')}`;
                const password = randomBytes(24).toString('base64url');
                await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD ${pg.escapeLiteral(scramVerifier(password, 1))} VALID UNTIL 'infinity' IN ROLE demo_reader`);
                const u = new URL(stack.demoUrl);
                u.username = name;
                u.password = password;
                const c = await pgClient(u.toString());
                await point(c)();
                await c.end();
                await admin.query(`DROP ROLE ${name}`);
              },
              close: () => admin.end(),
            };
          });
          rows.push({ case: POINT, client: 'node-pg', path: 'floor', clients, ...result });
        });
      }
    }
    if (only.has('stream')) {
      await measured('masked stream', async () => {
        // every customer row repeated, so email, phone, card and SSN are masked and notes scanned
        const stream = (count: number) => `SELECT c.id, c.name, c.email, c.phone, c.card_number, c.ssn, c.notes FROM customers c, generate_series(1, ${Math.ceil(count / 50)}) g`;
        const name = `${streamRows.toLocaleString('en-US')}-row stream, masked`;
        const direct = await streamRowsVia(stack.demoUrl, stream(streamRows));
        rows.push({ case: name, client: 'node-pg', path: 'direct', clients: 1, ops: direct.rows, opsPerSecond: direct.rows / direct.seconds, medianMs: NaN, p99Ms: NaN });
        const url = await airlockUrl('demo');
        const baseline = stack.rssMb();
        const small = await streamRowsVia(url, stream(streamRows / 5));
        const peakSmall = stack.peakMb();
        const large = await streamRowsVia(url, stream(streamRows));
        const peakLarge = stack.peakMb();
        rows.push({
          case: name,
          client: 'node-pg',
          path: 'airlock-session',
          clients: 1,
          ops: large.rows,
          opsPerSecond: large.rows / large.seconds,
          medianMs: NaN,
          p99Ms: NaN,
          extra: { proxyRssBeforeMb: Math.round(baseline), proxyPeakAfterFifthMb: Math.round(peakSmall), proxyPeakAfterAllMb: Math.round(peakLarge) },
        });
      });
    }
    if (only.has('snowflake') && stack.warehouse) {
      const warehouse = stack.warehouse;
      await measured('snowflake', async () => {
        const query = (c: snowflake.Connection) => async () => void (await snowflakeQuery(c, 'SELECT id, customer_id, total FROM orders WHERE id = ?', [1 + Math.floor(Math.random() * 200)]));
        const close = (c: snowflake.Connection) => () => new Promise<void>((r) => c.destroy(() => r()));
        const direct = await load(1, async () => {
          const c = await snowflakeConnect({ account: 'AIRLOCK_DEMO', accessUrl: warehouse.url, username: 'AIRLOCK_ADMIN', authenticator: 'SNOWFLAKE_JWT', privateKey: warehouse.adminPrivateKeyPem });
          return { op: query(c), close: close(c) };
        });
        rows.push({ case: 'Snowflake point query (emulator)', client: 'snowflake-sdk', path: 'direct', clients: 1, ...direct });
        const token = await stack.token(`bench-${++n}`, ['analysts']);
        const through = await load(1, async () => {
          const c = await snowflakeConnect({ account: 'warehouse', accessUrl: `http://127.0.0.1:${stack.ports['http']}`, authenticator: 'OAUTH', token });
          return { op: query(c), close: close(c) };
        });
        rows.push({ case: 'Snowflake point query (emulator)', client: 'snowflake-sdk', path: 'airlock-session', clients: 1, ...through });
      });
    }
  } finally {
    await bouncer?.stop();
    await stack.close();
  }

  if (only.has('policy')) await measured('policy decision', policyRows);

  if (only.has('audit')) {
    await measured('audit writers', async () => {
      // events appended per second by one writer and by two (each its own partition), durable before acked
      const audit = await auditThroughput();
      for (const r of audit.rows) {
        rows.push({
          case: 'audit append (events durable in PostgreSQL, then acked)',
          client: 'audit writer',
          path: 'airlock',
          clients: r.writers,
          ops: r.events,
          opsPerSecond: r.eventsPerSecond,
          medianMs: NaN,
          p99Ms: NaN,
          ...(r.writers > 1 ? { extra: { vsOneWriter: `${audit.ratio.toFixed(2)}×` } } : {}),
        });
      }
    });
  }

  report({ started, loadBefore, pgbouncer: bouncer ? bouncer.version : undefined });
}

async function policyRows(): Promise<void> {
  // the policy decision, in process: cold (first analysis) and cached (the same text again)
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
    cold.push(performance.now() - t);
    t = performance.now();
    evaluate({ config: cfg, principal, connection: 'demo', sql, catalog, requestId: 'b', cache });
    cached.push(performance.now() - t);
  }
  rows.push({ case: 'policy decision, new statement', client: 'in-process', path: 'airlock', clients: 1, ops: cold.length, opsPerSecond: NaN, medianMs: quantile(cold, 0.5), p99Ms: quantile(cold, 0.99) });
  rows.push({ case: 'policy decision, same statement again (cached)', client: 'in-process', path: 'airlock', clients: 1, ops: cached.length, opsPerSecond: NaN, medianMs: quantile(cached, 0.5), p99Ms: quantile(cached, 0.99) });
}

// ---------------------------------------------------------------------------------------------------------------------
// report

const fmt = (n: number | undefined, d = 2) => (n !== undefined && Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const pct = (a: number, b: number) => {
  const r = (100 * a) / b;
  return `${r.toLocaleString('en-US', { maximumFractionDigits: r < 10 ? 1 : 0 })}%`;
};

function find(client: Row['client'], path: Path, clients: number, name = POINT): Row | undefined {
  return rows.find((r) => r.case === name && r.client === client && r.path === path && r.clients === clients);
}

/** One cell of the point-select table: throughput, median, and for Airlock rows the shares of direct and pgbouncer. */
function cell(client: Row['client'], path: Path, clients: number): string {
  const r = find(client, path, clients);
  if (!r) return 'not measured';
  const parts = [`${fmt(r.opsPerSecond, 0)} ops/s, median ${fmt(r.medianMs, 3)} ms`];
  const direct = find(client, 'direct', clients);
  const bouncer = find(client, 'pgbouncer', clients);
  const added = direct ? r.medianMs - direct.medianMs : NaN;
  if (path !== 'direct' && direct) parts.push(`${pct(r.opsPerSecond, direct.opsPerSecond)} of direct, ${added < 0 ? '−' : '+'}${fmt(Math.abs(added), 3)} ms median`);
  if (path.startsWith('airlock') && bouncer) parts.push(`${pct(r.opsPerSecond, bouncer.opsPerSecond)} of pgbouncer`);
  const floor = find('node-pg', 'floor', clients);
  if ((path === 'airlock-statement' || path === 'airlock-statement-pool') && floor) parts.push(`${fmt(r.medianMs / floor.medianMs)}× the floor's median`);
  const session = find(client, 'airlock-session', clients);
  if ((path === 'airlock-statement' || path === 'airlock-statement-pool') && session) parts.push(`${fmt(r.medianMs / session.medianMs)}× the per-session median`);
  if (r.extra) parts.push(Object.entries(r.extra).map(([k, v]) => `${k} ${v}`).join(', '));
  return parts.join('; ');
}

function report(meta: { started: Date; loadBefore: number[]; pgbouncer: string | undefined }): void {
  const loadAfter = loadavg();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const pgVersion = spawnSync('pgbench', ['--version']).stdout?.toString().trim() ?? '';
  const lines: string[] = [];
  lines.push(`# Airlock benchmark, ${meta.started.toISOString()}`, '');
  lines.push(`Machine: ${machine}. Load average before ${meta.loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`);
  lines.push(`${seconds} s per case. ${pgVersion}${meta.pgbouncer ? `; PgBouncer ${meta.pgbouncer}` : ''}.`, '');
  const paths: Path[] = ['direct', 'pgbouncer', 'airlock-session', 'airlock-session-apart', 'airlock-statement', 'airlock-statement-pool'];
  for (const client of ['pgbench', 'node-pg'] as const) {
    if (!rows.some((r) => r.client === client && r.case === POINT)) continue;
    lines.push(
      client === 'pgbench'
        ? `## ${POINT}: pgbench -M prepared, one prepared statement per transaction`
        : `## ${POINT}: the pg client of Node, a named statement per query`,
      '',
      '| path | 1 client | 16 clients |',
      '|---|---|---|',
    );
    for (const path of [...paths, ...(client === 'node-pg' ? (['floor'] as Path[]) : [])]) {
      if (!CONCURRENCY.some((c) => find(client, path, c))) continue;
      lines.push(`| ${PATH_NAMES[path]} | ${CONCURRENCY.map((c) => cell(client, path, c)).join(' | ')} |`);
    }
    lines.push('');
  }
  const others = rows.filter((r) => r.case !== POINT);
  if (others.length) {
    lines.push('## Streaming, Snowflake, policy, audit', '', '| case | path | clients | ops | ops/s | median ms | p99 ms | vs direct |', '|---|---|---|---|---|---|---|---|');
    for (const r of others) {
      const direct = r.path !== 'direct' ? rows.find((d) => d.case === r.case && d.path === 'direct' && d.clients === r.clients) : undefined;
      const vs = direct ? [`${fmt(r.opsPerSecond / direct.opsPerSecond)}× throughput`, Number.isFinite(r.medianMs) ? `${fmt(r.medianMs / direct.medianMs)}× median` : ''] : [];
      const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k} ${v}`) : [];
      const label = r.path === 'direct' ? 'direct' : r.path === 'airlock-session' ? 'Airlock, lease per session' : PATH_NAMES[r.path];
      lines.push(`| ${r.case} | ${label} | ${r.clients} | ${r.ops} | ${fmt(r.opsPerSecond, 0)} | ${fmt(r.medianMs, 3)} | ${fmt(r.p99Ms, 3)} | ${[...vs, ...extra].filter(Boolean).join('; ')} |`);
    }
    lines.push('');
  }
  if (notes.length) lines.push('Notes:', ...notes.map((n) => `- ${n}`), '');
  const markdown = lines.join('\n');
  console.log(markdown);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'bench.md'), markdown);
  writeFileSync(
    join(here, 'results', 'bench.json'),
    JSON.stringify({ when: meta.started.toISOString(), machine, loadBefore: meta.loadBefore, loadAfter, secondsPerCase: seconds, pgbouncer: meta.pgbouncer ?? null, rows, notes }, null, 2),
  );
}

if (!existsSync(join(here, 'results'))) mkdirSync(join(here, 'results'), { recursive: true });
await main();
