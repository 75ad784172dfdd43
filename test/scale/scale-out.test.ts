import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { seedDemoDatabase } from '@airlock/cli';
import { streamName } from '@airlock/runtime';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { databaseUrl, deleteStream, dropDatabase, eventually, natsUrl, rolesWithPrefix, uniqueSuffix, ephemeralPorts, withoutDemoSignIn } from '@airlock/testkit';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repo, 'packages', 'cli', 'bin', 'airlock.js');

/** The services of a statement's life; each runs as two processes, copy a and copy b. */
const services = ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy'] as const;
type Service = (typeof services)[number];
type Copy = 'a' | 'b';

/** One `airlock run <service>` process: its ports from its "service running" log line, its log lines kept. */
interface Instance {
  service: Service;
  copy: Copy;
  child: ChildProcess;
  ports: Record<string, number>;
  lines: string[];
  exited: Promise<void>;
}

/** What each copy counts that proves it did its own share of the work. */
const workMetric: Record<Service, string> = {
  identity: 'airlock_identity_verifications_total{outcome="ok"}',
  policy: 'airlock_bus_requests_total{operation="policy.v1.decide",code="ok"}',
  approval: 'airlock_approval_submissions_total{state="pending"}',
  credential: 'airlock_credential_mint_duration_seconds_count{connection="demo",outcome="ok"}',
  audit: 'airlock_audit_events_appended_total',
  proxy: 'airlock_proxy_statement_duration_seconds_count{connection="demo",outcome="completed"}',
};

async function scrape(port: number, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

function start(service: Service, copy: Copy, env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, [cli, 'run', service], {
    cwd: repo,
    env: { ...env, ...(service === 'proxy' ? { AIRLOCK_PROXY_ID: `proxy-${copy}` } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${service}-${copy} did not start in 120 s:\n${lines.slice(-20).join('\n')}`)), 120_000);
    // both pipes are read to the end, so a chatty process never blocks on a full pipe
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      if (!l.includes(`"${service} service running"`)) return;
      clearTimeout(timer);
      resolve({ service, copy, child, ports: (JSON.parse(l) as { ports: Record<string, number> }).ports, lines, exited });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${service}-${copy} exited while starting:\n${lines.slice(-20).join('\n')}`));
    });
  });
}

/** One statement a client sent, and what became of it. */
interface Sent {
  tag: string;
  kind: 'select' | 'approval';
  /** the proxy of the first attempt, and whether it was answered as expected */
  first: Copy;
  firstOk: boolean;
  firstStartedAt: number;
  firstEndedAt: number;
  /** the retry on the surviving proxy, when the first attempt failed */
  retryOk?: boolean;
  /** the proxy that answered it as expected */
  answeredBy?: Copy;
}

describe('scale-out: two processes of every service, one copy of each killed mid-run', { timeout: 480_000 }, () => {
  const suffix = uniqueSuffix();
  const root = `s${suffix}`;
  const rolePrefix = `airlock_s${suffix}_`;
  const stateDb = `airlock_state_${suffix}`;
  const demoDb = `airlock_demo_${suffix}`;
  const instances: Instance[] = [];
  let env: Record<string, string>;
  let token: string;
  const totals = new Map<number, string>();

  before(async () => {
    await seedDemoDatabase(databaseUrl(demoDb));
    const demo = new pg.Client({ connectionString: databaseUrl(demoDb) });
    await demo.connect();
    for (const r of (await demo.query<{ id: number; total: string }>('SELECT id, total::text FROM orders WHERE id <= 20')).rows) totals.set(r.id, r.total);
    await demo.end();

    const config = withoutDemoSignIn(parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>);
    config['connections']['demo']['adminUrl'] = databaseUrl(demoDb);
    config['connections']['demo']['leases']['rolePrefix'] = rolePrefix;
    // a credential per statement: every statement mints and revokes, so both credential copies see work
    config['connections']['demo']['leases']['mode'] = 'statement';
    delete config['connections']['warehouse'];
    // approval-required statements are answered "pending" at once: both approval copies record them
    config['approval'] = { ...config['approval'], holdSeconds: 0 };
    const configPath = join(mkdtempSync(join(tmpdir(), 'airlock-scale-')), 'config.yaml');
    const text = stringify(config);
    parseConfig(text, configPath);
    writeFileSync(configPath, text);
    env = {
      PATH: process.env['PATH'] ?? '',
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl(stateDb),
      AIRLOCK_CONFIG: configPath,
      AIRLOCK_SUBJECT_ROOT: root,
      AIRLOCK_LOG_LEVEL: 'info',
      ...ephemeralPorts,
      AIRLOCK_CREDENTIAL_SWEEP_SECONDS: '1',
      AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3',
      // the demo config's development issuer runs only in demo mode; every copy shares this test's state folder
      AIRLOCK_DEMO: '1',
      AIRLOCK_STATE_DIR: join(dirname(configPath), 'state'),
    };
    // copy a first (it creates the schemas), then copy b beside it
    instances.push(await start('identity', 'a', env));
    instances.push(...(await Promise.all(services.filter((s) => s !== 'identity').map((s) => start(s, 'a', env)))));
    instances.push(...(await Promise.all(services.map((s) => start(s, 'b', env)))));

    const key = await loadOrCreateDevKey(env);
    token = await mintDevToken(key, devIssuerSettings(parseConfig(text, configPath)), { subject: 'agent-scale', groups: ['analysts'] });
  });

  after(async () => {
    for (const i of instances) i.child.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exited));
    await deleteStream(root);
    for (const role of await rolesWithPrefix(rolePrefix)) {
      const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
      await admin.end();
    }
    await dropDatabase(demoDb);
    await dropDatabase(stateDb);
  });

  const instance = (service: Service, copy: Copy) => instances.find((i) => i.service === service && i.copy === copy)!;
  const pgPort = (copy: Copy) => instance('proxy', copy).ports['pgwire']!;

  /** Sends one statement on a new connection; resolves true when it was answered exactly as expected. */
  async function attempt(copy: Copy, tag: string, kind: Sent['kind'], n: number): Promise<boolean> {
    const client = new pg.Client({ connectionString: `postgresql://agent:${encodeURIComponent(token)}@127.0.0.1:${pgPort(copy)}/demo?sslmode=disable` });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if (kind === 'select') {
        const id = 1 + (n % 20);
        const res = await client.query({ text: `SELECT id, total, '${tag}' AS tag FROM orders WHERE id = ${id}`, rowMode: 'array' });
        assert.deepEqual(res.rows, [[id, totals.get(id), tag]]);
        return true;
      }
      // an update of orders waits for a dba: held, and answered "pending" with the approval's SQLSTATE
      const err = await client.query(`UPDATE orders SET total = total WHERE id = ${tag}`).then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      return err?.code === '57014' && /needs approval/.test(err.message ?? '');
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('serves through both proxies, spreads the work over both copies, and loses nothing when one copy of each dies', async (t) => {
    const sent: Sent[] = [];
    let killStartedAt = Number.POSITIVE_INFINITY;
    let killed = false;
    const clients = 4;
    const afterKill = 10;

    const client = async (c: number) => {
      let n = 0;
      let sinceKill = 0;
      while (sinceKill < afterKill) {
        n += 1;
        if (killed) sinceKill += 1;
        const kind: Sent['kind'] = n % 4 === 0 ? 'approval' : 'select';
        // an approval statement is told apart by its (negative, unique) id, a read by its tag column
        const tag = kind === 'select' ? `c${c}n${n}` : String(-(c * 100_000 + n));
        // clients 0 and 2 use proxy a until it is killed; 1 and 3 use proxy b
        const first: Copy = c % 2 === 0 && !killed ? 'a' : 'b';
        const s: Sent = { tag, kind, first, firstOk: false, firstStartedAt: Date.now(), firstEndedAt: 0 };
        sent.push(s);
        s.firstOk = await attempt(first, tag, kind, n);
        s.firstEndedAt = Date.now();
        if (s.firstOk) s.answeredBy = first;
        else {
          // once, on the proxy that survives
          s.retryOk = await attempt('b', tag, kind, n);
          if (s.retryOk) s.answeredBy = 'b';
        }
      }
    };
    const running = Promise.all([0, 1, 2, 3].slice(0, clients).map(client));

    // both copies of every service have done work before one of each is killed
    const work = await eventually(
      async () => {
        const counts = await Promise.all(instances.map(async (i) => [`${i.service}-${i.copy}`, await scrape(i.ports[`${i.service}Metrics`]!, workMetric[i.service])] as const));
        return counts.every(([, v]) => v > 0) ? Object.fromEntries(counts) : undefined;
      },
      120_000,
      'both copies of every service to do work',
    );
    for (const s of services) for (const copy of ['a', 'b'] as const) assert.ok(work[`${s}-${copy}`]! > 0, `${s}-${copy} did no work`);
    const beforeKill = sent.length;
    assert.ok(sent.some((s) => s.first === 'a' && s.firstOk) && sent.some((s) => s.first === 'b' && s.firstOk), 'both proxies answered statements');

    killStartedAt = Date.now();
    const victims = services.map((s) => instance(s, 'a'));
    for (const v of victims) v.child.kill('SIGKILL');
    await Promise.all(victims.map((v) => v.exited));
    const killDoneAt = Date.now();
    killed = true;
    await running;

    // the only first attempts that failed were in flight while the copies died: begun before the last one was gone,
    // answered (or timed out) after the first was killed
    const failedFirst = sent.filter((s) => !s.firstOk);
    const inFlight = (s: Sent) => s.firstStartedAt <= killDoneAt && s.firstEndedAt >= killStartedAt;
    // every statement was answered as expected, first time or on its one retry — except one in flight on the killed
    // proxy, which may be lost (its retry can meet a request that died with a killed service copy)
    const lost = sent.filter((s) => !s.answeredBy && !(s.first === 'a' && inFlight(s))).map((s) => s.tag);
    assert.deepEqual(lost, [], 'statements never answered');
    assert.ok(sent.length >= beforeKill + clients * afterKill, `${sent.length} statements sent`);
    assert.deepEqual(failedFirst.filter((s) => !inFlight(s)).map((s) => s.tag), [], 'statements that failed though not in flight at the kill');

    // the audit log, written by the surviving audit copy (and the killed one before it died), caught up
    const nc = await connect({ servers: natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await eventually(
        async () => {
          const info = await jsm.consumers.info(streamName(root), 'airlock-audit');
          return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
        },
        90_000,
        'the audit consumer to drain (the killed copy’s unacknowledged events come back after the ack wait)',
      );
    } finally {
      await nc.close();
    }
    const state = new pg.Client({ connectionString: databaseUrl(stateDb) });
    await state.connect();
    try {
      const decided = (
        await state.query<{ sql: string }>("SELECT payload->>'sql' AS sql FROM audit_events WHERE event_type = 'policy.v1.decided'")
      ).rows.map((r) => r.sql);
      const completed = (
        await state.query<{ tag: string | null; proxy: string }>(
          `SELECT c.payload->'result'->'rows'->0->>2 AS tag, o.payload->>'proxy' AS proxy
             FROM audit_events c
             JOIN audit_events o ON o.event_type = 'proxy.v1.session-opened' AND o.payload->>'sessionId' = c.payload->>'sessionId'
            WHERE c.event_type = 'proxy.v1.query-completed'`,
        )
      ).rows;
      const sentTags = new Set(sent.map((s) => s.tag));
      const tagOf = (sql: string) => /'(c\d+n\d+)' AS tag/.exec(sql)?.[1] ?? /WHERE id = (-\d+)$/.exec(sql)?.[1];
      // every statement answered was decided by policy, and policy's decision event reached the audit log
      const decidedTags = new Set(decided.map(tagOf));
      // (one lost in flight on the killed proxy may have died before it was decided)
      assert.deepEqual(sent.filter((s) => !decidedTags.has(s.tag) && s.answeredBy).map((s) => s.tag), [], 'statements without a decision in the audit log');
      assert.deepEqual([...decidedTags].filter((t) => !sentTags.has(t!)), [], 'decisions for statements nobody sent');
      // every read answered through the surviving proxy has its completion recorded; through the killed proxy,
      // only one finishing as it died may lack it (its event was still being published)
      const recorded = new Set(completed.map((r) => `${r.proxy}:${r.tag}`));
      const unrecorded = sent.filter((s) => s.kind === 'select' && s.answeredBy && !recorded.has(`proxy-${s.answeredBy}:${s.tag}`));
      assert.deepEqual(unrecorded.filter((s) => s.answeredBy === 'b').map((s) => s.tag), [], 'reads through proxy b without a completion');
      assert.ok(unrecorded.length <= clients / 2, `${unrecorded.length} reads through the killed proxy without a completion`);
      assert.ok(completed.every((r) => sentTags.has(r.tag!)), 'completions for reads nobody sent');
      const counts = {
        sent: sent.length,
        answered: sent.filter((s) => s.answeredBy).length,
        retried: failedFirst.length,
        completedReads: completed.length,
        reads: sent.filter((s) => s.kind === 'select').length,
      };
      // answered: everything but what was lost in flight on the killed proxy (checked statement by statement above)
      assert.equal(counts.answered, counts.sent - sent.filter((s) => !s.answeredBy && s.first === 'a' && inFlight(s)).length);
      t.diagnostic(`statements ${JSON.stringify(counts)}; work per copy before the kill ${JSON.stringify(work)}`);
      // a read retried after its first attempt completed upstream is recorded twice, once per attempt; a read lost in
      // flight on the killed proxy (never answered, allowed above) may have no completion at all
      const lostReads = sent.filter((s) => s.kind === 'select' && !s.answeredBy && s.first === 'a' && inFlight(s)).length;
      assert.ok(
        counts.completedReads >= counts.reads - unrecorded.length - lostReads && counts.completedReads <= counts.reads + failedFirst.length,
        JSON.stringify({ ...counts, lostReads }),
      );

      // the surviving credential copy revoked every lease, including those the killed proxy and credential copy held
      await eventually(async () => ((await rolesWithPrefix(rolePrefix)).length === 0 ? true : undefined), 60_000, 'every ephemeral role to be dropped');
      const leases = await eventually(async () => {
        const { rows } = await state.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM leases GROUP BY state ORDER BY state');
        return rows.length === 1 ? rows : undefined;
      }, 30_000, 'every lease to be revoked');
      assert.equal(leases[0]!.state, 'revoked');
    } finally {
      await state.end();
    }
  });
});
