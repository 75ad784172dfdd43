/**
 * Audit writer throughput on the real NATS and PostgreSQL of NATS_URL / DATABASE_URL: a stream is filled with
 * statement events first, then one (and then two) audit writer processes drain it into a fresh database, each event
 * acknowledged only after its transaction committed. Prints events/s for 1 and 2 writers and their ratio, checks the
 * chain verifies and holds every event, and writes test/bench/results/audit-throughput.json.
 *
 * With AIRLOCK_BENCH_AUDIT_BULK=1 it measures a design the service does not have: events published on subjects
 * partitioned by session (a `.p0`/`.p1` suffix), and each writer its own consumer over its partition (all of them for
 * one writer), acknowledged once per batch (`AckPolicy.All`) instead of once per event.
 *
 * Run: node --import tsx test/bench/audit-throughput.ts [events]   (npm run bench runs it too)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { eventSubject, proxyV1 } from '@airlock/contracts';
import { AuditStore, migrateAudit } from '@airlock/audit';
import { AckPolicy, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { Bus, contextHeaders, createLogger, decodeJson, encodeJson, newContext, type ConsumedEvent } from '@airlock/runtime';
import { databaseUrl, deleteStream, dropDatabase, natsUrl, uniqueSuffix } from '@airlock/testkit';

const here = dirname(fileURLToPath(import.meta.url));
const durable = 'airlock-audit';
/** a consumer per writer over subjects partitioned by session, acknowledged once per batch (see above) */
const bulk = process.env['AIRLOCK_BENCH_AUDIT_BULK'] === '1';

export interface AuditThroughputRow {
  writers: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/** A statement's worth of events, shaped as the proxy publishes them (sizes close to a real point query). */
function statementEvents(sessionId: string, n: number): Array<{ subject: string; payload: Record<string, unknown> }> {
  const requestId = randomUUID();
  const base = { sessionId, requestId, connection: 'demo' };
  const time = new Date().toISOString();
  return [
    { subject: 'proxy.v1.query-started', payload: { id: randomUUID(), time, ...base, leaseId: `lease-${sessionId}` } },
    {
      subject: 'proxy.v1.query-completed',
      payload: {
        id: randomUUID(),
        time,
        ...base,
        leaseId: `lease-${sessionId}`,
        command: 'SELECT 1',
        rows: 1,
        bytes: 96,
        maskedCells: 2,
        detected: { email: 1 },
        durationMs: 0.42,
        result: { columns: ['id', 'customer_id', 'total'], rows: [[String(n), '17', '120.50']], truncated: false },
      },
    },
  ];
}

/** Publishes `events` statement events across 64 sessions, many in flight at once; resolves when the stream holds them all. */
async function fill(bus: Bus, events: number): Promise<void> {
  await bus.ensureStream();
  const sessions = Array.from({ length: 64 }, () => randomUUID());
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < events / 2; i++) {
    for (const e of statementEvents(sessions[i % sessions.length]!, i)) {
      const base = eventSubject(bus.root, e.subject === 'proxy.v1.query-started' ? proxyV1.queryStarted : proxyV1.queryCompleted);
      // every event of a session in the same partition, so that a session's events keep their order
      const subject = bulk ? `${base}.p${(i % sessions.length) % 2}` : base;
      // with the headers every event carries (request id, trace context), as Bus.publish sends them
      const headers = contextHeaders(newContext(e.payload['requestId'] as string));
      pending.push(bus.js.publish(subject, encodeJson(e.payload), { msgID: e.payload['id'] as string, headers }));
    }
    if (pending.length >= 2000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

interface WriterProcess {
  child: ChildProcess;
  go: () => void;
  stop: () => Promise<void>;
  /** rows this writer has appended so far (duplicates not counted), as it reports them after each batch */
  appended: () => number;
}

function startWriter(env: Record<string, string>): Promise<WriterProcess> {
  const child = spawn(process.execPath, [...(process.env['AIRLOCK_BENCH_WRITER_ARGS']?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', fileURLToPath(import.meta.url), 'writer'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let appended = 0;
    let ready = false;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('appended ')) appended += Number(line.slice('appended '.length));
        if (line !== 'ready' || ready) continue;
        ready = true;
        resolve({
          child,
          go: () => child.stdin!.write('go\n'),
          stop: async () => {
            child.kill('SIGTERM');
            if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
          },
          appended: () => appended,
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`audit writer exited with ${code} before it was ready`)));
  });
}

/** CPU seconds used so far by the processes of each command name (all of the machine's, not only this bench's). */
function cpuByCommand(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm in out) out[comm]! += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** One run: a fresh database and stream, `writers` writer processes draining `events` events. */
async function measure(writers: number, events: number): Promise<AuditThroughputRow> {
  const suffix = uniqueSuffix();
  const db = `airlock_bench_audit_${suffix}`;
  const root = `benchaudit${suffix}`;
  const url = databaseUrl(db);
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const admin = new pg.Pool({ connectionString: databaseUrl('postgres'), max: 1 });
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const bus = await Bus.connect({ url: natsUrl, root, service: 'bench', logger });
  const key = randomBytes(32);
  const children: WriterProcess[] = [];
  try {
    await migrateAudit(pool);
    await fill(bus, events);
    const last = (await (await bus.js.jetstreamManager()).streams.info(bus.streamName)).state.last_seq;
    const env = { AIRLOCK_BENCH_DATABASE_URL: url, AIRLOCK_BENCH_ROOT: root, AIRLOCK_BENCH_KEY: key.toString('base64') };
    for (let i = 0; i < writers; i++) {
      const own = { AIRLOCK_BENCH_CONSUMER: `writer-${i}`, AIRLOCK_BENCH_FILTER: writers === 1 ? `${root}.evt.>` : `${root}.evt.*.*.*.p${i}` };
      children.push(await startWriter(bulk ? { ...env, ...own } : env));
    }
    const jsm = await bus.js.jetstreamManager();
    const cpuBefore = cpuByCommand(['postgres', 'nats-server']);
    const started = performance.now();
    for (const c of children) c.go();
    // done once every event is in the table (as the writers report it) and acknowledged. The consumer is asked only
    // then: on NATS 2.9 a consumer info request on a durable with a backlog stalls its deliveries, and asking every
    // 20 ms while the writers drained held them to a third of their rate
    while (children.reduce((n, c) => n + c.appended(), 0) < events) {
      await new Promise((r) => setTimeout(r, 2));
      if (performance.now() - started > 600_000) throw new Error('the audit writers did not drain the stream in 10 minutes');
    }
    for (;;) {
      if (bulk) {
        const infos = await Promise.all(children.map((_, i) => jsm.consumers.info(bus.streamName, `writer-${i}`).catch(() => undefined)));
        if (infos.every((info) => info && info.num_pending === 0 && info.num_ack_pending === 0)) break;
      } else {
        const info = await jsm.consumers.info(bus.streamName, durable).catch(() => undefined);
        if (info && info.ack_floor.stream_seq >= last) break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const seconds = (performance.now() - started) / 1000;
    if (process.env['AIRLOCK_BENCH_VERBOSE']) {
      const cpuAfter = cpuByCommand(['postgres', 'nats-server']);
      const used = Object.entries(cpuAfter).map(([k, v]) => `${k} ${(v - cpuBefore[k]!).toFixed(2)} s`);
      console.error(`${writers} writer(s), CPU while draining (whole machine, by command): ${used.join(', ')}`);
    }
    for (const c of children.splice(0)) await c.stop();
    const store = new AuditStore(pool, key);
    const verified = await store.verify();
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
    if (!verified.ok || Number(rows[0]!.n) !== events) {
      throw new Error(`after ${writers} writer(s): ${rows[0]!.n} rows of ${events}, verify ${JSON.stringify(verified.firstBad ?? verified)}`);
    }
    return { writers, events, seconds, eventsPerSecond: events / seconds };
  } finally {
    for (const c of children) await c.stop();
    await bus.close();
    await pool.end();
    await deleteStream(root);
    await dropDatabase(db);
  }
}

/** Drains the stream into the table the way the audit service does, once the parent says go. */
async function writer(): Promise<void> {
  const env = process.env;
  const logger = createLogger({ service: 'audit', level: 'warn' });
  const pool = new pg.Pool({ connectionString: env['AIRLOCK_BENCH_DATABASE_URL']!, max: 4 });
  const bus = await Bus.connect({ url: natsUrl, root: env['AIRLOCK_BENCH_ROOT']!, service: 'audit', logger });
  const store = new AuditStore(pool, Buffer.from(env['AIRLOCK_BENCH_KEY']!, 'base64'));
  const maxBatch = Number(env['AIRLOCK_AUDIT_BATCH_SIZE'] || 1000);
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error('AIRLOCK_AUDIT_BATCH_SIZE must be a whole number, at least 1');
  // a writer whose bench is gone (its stdin closed) does not linger
  process.stdin.once('end', () => process.exit(1));
  process.stdout.write('ready\n');
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  const cpu = process.cpuUsage();
  let batches = 0;
  let appending = 0;
  const incoming = (e: ConsumedEvent) => ({ subject: e.subject, payload: e.payload, streamSequence: e.streamSequence });
  if (bulk) {
    // this writer's own consumer: the last message of a batch, once appended, acknowledges the whole batch
    await bus.ensureStream();
    const name = env['AIRLOCK_BENCH_CONSUMER']!;
    await (await bus.js.jetstreamManager()).consumers.add(bus.streamName, {
      durable_name: name,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.All,
      filter_subject: env['AIRLOCK_BENCH_FILTER']!,
      max_ack_pending: maxBatch * 4,
      ack_wait: 30_000_000_000,
    });
    const messages = await (await bus.js.consumers.get(bus.streamName, name)).consume({ max_messages: maxBatch * 2 });
    const queue: JsMsg[] = [];
    let wake: (() => void) | undefined;
    void (async () => {
      for await (const m of messages) {
        queue.push(m);
        wake?.();
      }
    })();
    const event = (m: JsMsg) => ({ subject: m.subject, payload: decodeJson(m.data), streamSequence: m.info.streamSequence });
    void (async () => {
      let next: JsMsg[] | undefined;
      for (;;) {
        if (!next && queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const batch = next ?? queue.splice(0, maxBatch);
        next = queue.length > 0 ? queue.splice(0, maxBatch) : undefined;
        const t = performance.now();
        // a failed append is retried in place, never overtaken (as consumeBatches does)
        for (;;) {
          try {
            process.stdout.write(`appended ${await store.appendBatch(batch.map(event), (next ?? []).map(event))}\n`);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        appending += performance.now() - t;
        batches += 1;
        batch.at(-1)!.ack();
      }
    })();
  } else await bus.consumeBatches(durable, async (all, _working, next) => {
    const t = performance.now();
    const added = await store.appendBatch(all.map(incoming), next.map(incoming));
    appending += performance.now() - t;
    batches += 1;
    process.stdout.write(`appended ${added}\n`);
  }, {
    maxBatch,
    lookahead: true,
  });
  process.once('SIGTERM', () => {
    void (async () => {
      if (env['AIRLOCK_BENCH_VERBOSE']) {
        const used = process.cpuUsage(cpu);
        process.stderr.write(`writer ${await store.partition().catch(() => 0)}: ${((used.user + used.system) / 1e6).toFixed(2)} s CPU, ${batches} batches, ${(appending / 1000).toFixed(2)} s appending\n`);
      }
      await bus.close();
      await store.close();
      await pool.end();
      process.exit(0);
    })();
  });
}

/**
 * The rate at which one consumer drains the filled stream writing nothing, acknowledging each message (as the writers
 * must while copies share one durable) or once per batch (`AckPolicy.All`), with the CPU nats-server spent: the
 * ceiling the bus sets on the writers. AIRLOCK_BENCH_AUDIT_CEILING=1 prints it.
 */
async function consumerCeiling(events: number): Promise<void> {
  const root = `benchceil${uniqueSuffix()}`;
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const bus = await Bus.connect({ url: natsUrl, root, service: 'bench', logger });
  try {
    await fill(bus, events);
    const jsm = await bus.js.jetstreamManager();
    for (const policy of [AckPolicy.Explicit, AckPolicy.All]) {
      const name = `ceiling-${policy}`;
      await jsm.consumers.add(bus.streamName, { durable_name: name, ack_policy: policy, deliver_policy: DeliverPolicy.All, max_ack_pending: 4000, ack_wait: 30_000_000_000 });
      const consumer = await bus.js.consumers.get(bus.streamName, name);
      const before = cpuByCommand(['nats-server']);
      const cpu = process.cpuUsage();
      const started = performance.now();
      const messages = await consumer.consume({ max_messages: 2000 });
      let n = 0;
      for await (const m of messages) {
        n += 1;
        if (policy === AckPolicy.Explicit || n % 500 === 0 || n === events) m.ack();
        if (n === events) break;
      }
      while ((await jsm.consumers.info(bus.streamName, name)).ack_floor.stream_seq < events) await new Promise((r) => setTimeout(r, 10));
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      console.error(
        `consumer alone, acks ${policy === AckPolicy.Explicit ? 'one per message' : 'one per 500 (AckPolicy.All)'}: ${Math.round(events / seconds)} messages/s, ` +
          `client ${(((used.user + used.system) / events)).toFixed(1)} µs CPU a message, nats-server ${(((cpuByCommand(['nats-server'])['nats-server']! - before['nats-server']!) * 1e6) / events).toFixed(1)} µs (whole server)`,
      );
    }
  } finally {
    await bus.close();
    await deleteStream(root);
  }
}

/** Runs 1 and then 2 writers over the same number of events; the ratio is 2 writers' rate over 1 writer's. */
export async function auditThroughput(events = Number(process.env['AIRLOCK_BENCH_AUDIT_EVENTS'] ?? 40_000)): Promise<{ rows: AuditThroughputRow[]; ratio: number }> {
  const writers = (process.env['AIRLOCK_BENCH_AUDIT_WRITERS'] ?? '1,2').split(',').map(Number);
  const rows: AuditThroughputRow[] = [];
  if (process.env['AIRLOCK_BENCH_AUDIT_CEILING'] === '1') await consumerCeiling(events);
  for (const w of writers) rows.push(await measure(w, events));
  const ratio = rows.length > 1 ? rows[1]!.eventsPerSecond / rows[0]!.eventsPerSecond : NaN;
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(
    join(here, 'results', 'audit-throughput.json'),
    JSON.stringify({ when: new Date().toISOString(), machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`, rows, ratio }, null, 2),
  );
  return { rows, ratio };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === 'writer') {
    await writer();
  } else {
    const { rows, ratio } = await auditThroughput(process.argv[2] ? Number(process.argv[2]) : undefined);
    console.log('| audit writers | events | seconds | events/s |\n|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.writers} | ${r.events} | ${r.seconds.toFixed(2)} | ${Math.round(r.eventsPerSecond)} |`);
    console.log(`2 writers / 1 writer: ${ratio.toFixed(2)}×`);
  }
}
