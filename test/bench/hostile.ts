/**
 * A real client's point queries through the PostgreSQL door, idle and then while strangers attack the proxy before
 * logging in: 500 sockets that never authenticate (from eight loopback addresses) and a 64 KB gzip bomb at the
 * Snowflake login endpoint four times a second. Prints p50/p99 of each phase and the proxy process's resident memory
 * before (after a full collection), at its peak and after the authentication deadline closed the sockets (after a full
 * collection again), with the default proxy.limits.
 *
 * Run: node --import tsx test/bench/hostile.ts   (needs NATS_URL / DATABASE_URL; starts its own Airlock process)
 */
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { quantile, sleep, startProcessStack } from './process-stack.js';

const seconds = Number(process.env['AIRLOCK_BENCH_SECONDS'] ?? 10);

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
  // the whole stack in a process of its own (as the test stacks run it), so its memory is measured apart from the clients
  const stack = await startProcessStack('hostile');
  const pgPort = stack.ports['pgwire']!;
  const httpPort = stack.ports['http']!;
  const client = new pg.Client({ connectionString: stack.pgUrl(await stack.token('steady', ['analysts'])) });
  await client.connect();
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 50; i++) await client.query('SELECT id FROM orders WHERE id = 1'); // warm up
    // memory after a full collection (see settledRssMb): what the process holds, not where its sawtooth happens to be
    const rssBefore = await stack.settledRssMb();
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
    let peak = stack.rssMb();
    const bombing = setInterval(() => {
      for (let i = 0; i < 4; i++) {
        bombs += 1;
        void fetch(`http://127.0.0.1:${httpPort}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bomb })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
    }, 250);
    const attacked = await queries(client, () => (peak = Math.max(peak, stack.rssMb())));
    clearInterval(bombing);
    const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

    // the authentication deadline (10 s by default) closes what is left; then memory settles
    await sleep(12_000);
    const closedAfter = sockets.filter((s) => s.destroyed || s.readyState !== 'open').length;
    const after = await queries(client);
    const rssAfter = await stack.settledRssMb();

    const row = (phase: string, l: number[]) => `${phase.padEnd(34)} ${String(l.length).padStart(7)} ${quantile(l, 0.5).toFixed(2).padStart(8)} ${quantile(l, 0.99).toFixed(2).padStart(8)}`;
    console.log(`${'phase'.padEnd(34)} ${'queries'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    console.log(row('idle', idle));
    console.log(row(`500 sockets + ${bombs} gzip bombs`, attacked));
    console.log(row('after the deadline', after));
    console.log(`p99 under attack / idle: ${(quantile(attacked, 0.99) / quantile(idle, 0.99)).toFixed(2)}x`);
    console.log(`sockets still open at the end of the attack: ${open} of 500; closed after the deadline: ${closedAfter} of 500`);
    console.log(`proxy RSS: before ${rssBefore.toFixed(0)} MB, after ${rssAfter.toFixed(0)} MB (${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(1)}%; each after a full collection), peak ${peak.toFixed(0)} MB`);
  } finally {
    for (const s of sockets) s.destroy();
    await client.end().catch(() => undefined);
    await stack.close();
  }
}

await main();
