/**
 * A real client's point queries through the PostgreSQL door, idle and then while strangers attack the proxy before
 * logging in: 500 sockets that never authenticate (from eight loopback addresses) and a 64 KB gzip bomb at the
 * Snowflake login endpoint four times a second. Prints p50/p99 of each phase and the proxy process's resident memory
 * before, at its peak and after the authentication deadline closed the sockets, with the default proxy.limits.
 *
 * Run: node --import tsx test/bench/hostile.ts   (needs NATS_URL / DATABASE_URL; starts its own Airlock process)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { seedDemoDatabase } from '@airlock/cli';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { databaseUrl, deleteStream, dropDatabase, ephemeralPorts, rolesWithPrefix } from '@airlock/testkit';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const seconds = Number(process.env['AIRLOCK_BENCH_SECONDS'] ?? 10);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Point queries on one connection for the configured time: their latencies in ms. */
async function queries(c: pg.Client, during?: () => void): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    const r = await c.query('SELECT id, customer_id, total FROM orders WHERE id = $1', [1 + Math.floor(Math.random() * 20)]);
    if (r.rowCount !== 1) throw new Error('point query returned no row');
    latencies.push(performance.now() - t);
    during?.();
  }
  return latencies;
}

async function main(): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const demoDb = `airlock_hostile_demo_${suffix}`;
  const stateDb = `airlock_hostile_state_${suffix}`;
  const prefix = `airlock_h${suffix}_`;
  const subjectRoot = `hostile${suffix}`;
  const demoUrl = databaseUrl(demoDb);
  await seedDemoDatabase(demoUrl);
  const config = parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>;
  config['connections']['demo']['adminUrl'] = demoUrl;
  config['connections']['demo']['leases']['rolePrefix'] = prefix;
  delete config['connections']['warehouse'];
  const dir = mkdtempSync(join(tmpdir(), 'airlock-hostile-'));
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
  };
  // the whole stack in a process of its own (as the test stacks run it), so its memory is measured apart from the clients
  const boot = "import { startStack } from '@airlock/cli'; const s = await startStack(process.env); console.log('PORTS ' + JSON.stringify(s.ports));";
  const child = spawn(process.execPath, ['--input-type=module', '-e', boot], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const started = Date.now();
  while (!/^PORTS (.*)$/m.test(out)) {
    if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`airlock did not start:\n${out.slice(-2000)}`);
    await sleep(100);
  }
  const ports = JSON.parse(/^PORTS (.*)$/m.exec(out)![1]!) as Record<string, number>;
  const pgPort = ports['pgwire']!;
  const httpPort = ports['http']!;
  const pid = child.pid!;

  const token = await mintDevToken(await loadOrCreateDevKey(env), devIssuerSettings(parseConfig(readFileSync(configPath, 'utf8'))), { subject: 'steady', groups: ['analysts'] });
  const client = new pg.Client({ connectionString: `postgresql://agent:${token}@127.0.0.1:${pgPort}/demo?sslmode=disable` });
  await client.connect();
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 50; i++) await client.query('SELECT id FROM orders WHERE id = 1'); // warm up
    const rssBefore = rssMb(pid);
    const idle = await queries(client);

    // the attack: 500 silent sockets, and gzip bombs four at a time while the client keeps querying
    for (let i = 0; i < 500; i++) {
      const s = net.connect({ port: pgPort, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 8)}` });
      s.on('error', () => undefined);
      s.resume(); // read, so that the proxy's close is seen
      sockets.push(s);
    }
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"data":{"TOKEN":"'), Buffer.alloc(64 * 1024 * 1024, 0x41), Buffer.from('"}}')]), { level: 9 });
    let bombs = 0;
    let peak = rssMb(pid);
    const bombing = setInterval(() => {
      for (let i = 0; i < 4; i++) {
        bombs += 1;
        void fetch(`http://127.0.0.1:${httpPort}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bomb })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
    }, 250);
    const attacked = await queries(client, () => (peak = Math.max(peak, rssMb(pid))));
    clearInterval(bombing);
    const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

    // the authentication deadline (10 s by default) closes what is left; then memory settles
    await sleep(12_000);
    const closedAfter = sockets.filter((s) => s.destroyed || s.readyState !== 'open').length;
    const after = await queries(client);
    const rssAfter = rssMb(pid);

    const row = (phase: string, l: number[]) => `${phase.padEnd(34)} ${String(l.length).padStart(7)} ${quantile(l, 0.5).toFixed(2).padStart(8)} ${quantile(l, 0.99).toFixed(2).padStart(8)}`;
    console.log(`${'phase'.padEnd(34)} ${'queries'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    console.log(row('idle', idle));
    console.log(row(`500 sockets + ${bombs} gzip bombs`, attacked));
    console.log(row('after the deadline', after));
    console.log(`p99 under attack / idle: ${(quantile(attacked, 0.99) / quantile(idle, 0.99)).toFixed(2)}x`);
    console.log(`sockets still open at the end of the attack: ${open} of 500; closed after the deadline: ${closedAfter} of 500`);
    console.log(`proxy RSS: before ${rssBefore.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, after ${rssAfter.toFixed(0)} MB (${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(1)}%)`);
  } finally {
    for (const s of sockets) s.destroy();
    await client.end().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await deleteStream(subjectRoot);
    for (const role of await rolesWithPrefix(prefix)) {
      const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
      await admin.end();
    }
    await dropDatabase(demoDb);
    await dropDatabase(stateDb);
  }
}

await main();
