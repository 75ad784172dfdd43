/**
 * A soak: minutes of mixed real-client load through the PostgreSQL door while strangers keep attacking the proxy.
 *
 * - Load: four `pg` clients (analysts) run point queries, masked reads and catalog reads; every interval one of them
 *   reconnects (a new session and lease); `psql` runs `\dt` and a masked read.
 * - Attack: every interval 200 silent sockets from eight loopback addresses, and a 64 KB gzip bomb at the Snowflake
 *   login endpoint every two seconds.
 *
 * Every interval it prints the statements run, p50/p99, errors, the stack process's resident memory and the lease
 * roles open in the database. At the end it checks that nothing grew:
 * - the last interval's p99 is within 2x the first's;
 * - memory at the end is within 25% of the first interval's (V8 keeps the heap it grew once);
 * - the lease roles open equal the sessions open, and none is left once the clients are gone;
 * - no client statement failed.
 * It exits 1 naming what did not hold.
 *
 * Run: node --import tsx test/bench/soak.ts   (AIRLOCK_SOAK_MINUTES, default 10; AIRLOCK_SOAK_INTERVAL_SECONDS, default 60)
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { rolesWithPrefix } from '@airlock/testkit';
import { quantile, sleep, startProcessStack } from './process-stack.js';

const run = promisify(execFile);
const minutes = Number(process.env['AIRLOCK_SOAK_MINUTES'] ?? 10);
const intervalSeconds = Number(process.env['AIRLOCK_SOAK_INTERVAL_SECONDS'] ?? 60);
const CLIENTS = 4;

const STATEMENTS: Array<[string, unknown[]]> = [
  ['SELECT id, customer_id, total FROM orders WHERE id = $1', [1]],
  ['SELECT id, name, email, phone, card_number, ssn FROM customers WHERE id = $1', [2]],
  ["SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", []],
  ['SELECT count(*) FROM orders', []],
];

/** The lease roles open, waiting up to five seconds for them to come down to `expected`. */
async function settled(prefix: string, expected: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  let n = (await rolesWithPrefix(prefix)).length;
  while (n > expected && Date.now() < deadline) {
    await sleep(250);
    n = (await rolesWithPrefix(prefix)).length;
  }
  return n;
}

interface Interval {
  statements: number;
  latencies: number[];
  errors: number;
}

async function main(): Promise<void> {
  const stack = await startProcessStack('soak');
  const token = await stack.token('soak-agent', ['analysts']);
  const url = stack.pgUrl(token);
  const bomb = gzipSync(Buffer.concat([Buffer.from('{"data":{"TOKEN":"'), Buffer.alloc(64 * 1024 * 1024, 0x41), Buffer.from('"}}')]), { level: 9 });
  const clients: pg.Client[] = [];
  const sockets: net.Socket[] = [];
  let stop = false;
  let current: Interval = { statements: 0, latencies: [], errors: 0 };
  const failures: string[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      clients.push(c);
    }
    const reconnect = new Set<number>();
    const worker = async (slot: number) => {
      for (let n = 0; !stop; n++) {
        if (reconnect.delete(slot)) {
          // between statements, as a pool recycles a connection: its session ends and its lease must go with it
          const fresh = new pg.Client({ connectionString: url });
          await fresh.connect();
          await clients[slot]!.end().catch(() => undefined);
          clients[slot] = fresh;
        }
        const [sql, values] = STATEMENTS[n % STATEMENTS.length]!;
        const t = performance.now();
        try {
          await clients[slot]!.query(sql, values);
          current.latencies.push(performance.now() - t);
        } catch (err) {
          current.errors += 1;
          if (failures.length < 5) failures.push(`client ${slot}: ${(err as Error).message}`);
          await sleep(100);
        }
        current.statements += 1;
      }
    };
    const workers = clients.map((_, i) => worker(i));
    const bombing = setInterval(() => {
      void fetch(`http://127.0.0.1:${stack.ports['http']}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bomb })
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
    }, 2000);

    const rows: Array<{ p50: number; p99: number; rss: number; leases: number; statements: number; errors: number }> = [];
    console.log(`${'minute'.padEnd(7)} ${'stmts'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(6)} ${'RSS MB'.padStart(7)} ${'leases'.padStart(6)}`);
    const intervals = Math.max(1, Math.round((minutes * 60) / intervalSeconds));
    for (let i = 0; i < intervals; i++) {
      for (let s = 0; s < 200; s++) {
        const sock = net.connect({ port: stack.ports['pgwire']!, host: '127.0.0.1', localAddress: `127.0.0.${2 + (s % 8)}` });
        sock.on('error', () => undefined);
        sock.resume();
        sockets.push(sock);
      }
      reconnect.add(i % CLIENTS);
      await run('psql', [url, '-X', '-c', '\\dt', '-c', 'SELECT id, email FROM customers LIMIT 2'], { timeout: 30_000 }).catch((e: Error) => {
        current.errors += 1;
        failures.push(`psql: ${e.message}`);
      });
      await sleep(intervalSeconds * 1000);
      const done = current;
      current = { statements: 0, latencies: [], errors: 0 };
      // the psql session and the reconnected client's old session release their leases as they close
      const leases = await settled(stack.prefix, CLIENTS);
      const row = { p50: quantile(done.latencies, 0.5), p99: quantile(done.latencies, 0.99), rss: await stack.settledRssMb(), leases, statements: done.statements, errors: done.errors };
      rows.push(row);
      console.log(
        `${String(((i + 1) * intervalSeconds) / 60).padEnd(7)} ${String(row.statements).padStart(7)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)} ${String(row.errors).padStart(6)} ${row.rss.toFixed(0).padStart(7)} ${String(row.leases).padStart(6)}`,
      );
      for (const s of sockets.splice(0)) s.destroy();
    }
    stop = true;
    clearInterval(bombing);
    await Promise.all(workers);

    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    const problems: string[] = [];
    if (last.p99 > 2 * first.p99) problems.push(`p99 grew from ${first.p99.toFixed(2)} ms to ${last.p99.toFixed(2)} ms`);
    // memory after a full collection each interval (plain RSS is a sawtooth between major collections)
    if (last.rss > 1.25 * first.rss) problems.push(`memory grew from ${first.rss.toFixed(0)} MB to ${last.rss.toFixed(0)} MB`);
    if (rows.some((r) => r.leases !== CLIENTS)) problems.push(`lease roles open per interval: ${rows.map((r) => r.leases).join(', ')} (expected ${CLIENTS}, one per session)`);
    const errors = rows.reduce((n, r) => n + r.errors, 0);
    if (errors > 0) problems.push(`${errors} client statements failed: ${failures.join(' | ')}`);
    for (const c of clients) await c.end().catch(() => undefined);
    const deadline = Date.now() + 15_000;
    let left = (await rolesWithPrefix(stack.prefix)).length;
    while (left > 0 && Date.now() < deadline) {
      await sleep(250);
      left = (await rolesWithPrefix(stack.prefix)).length;
    }
    if (left > 0) problems.push(`${left} lease roles left after every client disconnected`);
    console.log(problems.length === 0 ? 'flat: latency, memory and leases held steady' : `NOT FLAT:\n  ${problems.join('\n  ')}`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    stop = true;
    for (const s of sockets) s.destroy();
    for (const c of clients) await c.end().catch(() => undefined);
    await stack.close();
  }
}

await main();
