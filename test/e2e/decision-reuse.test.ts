// A statement repeated on a session runs under the decision policy signed as reusable for its first run, without
// asking policy again; every run is still recorded, and the transcript shows each one's SQL. A new config (policy
// started with it) or a changed catalogue ends reuse at once through policy's epoch event, and a lost event is bounded
// by `policy.decisionCacheSeconds`; with 0, every statement is decided.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { loadConfigFile } from '@airlock/config';
import { policyV1, requestSubject } from '@airlock/contracts';
import { startService, type RunningService } from '@airlock/cli';
import { digest } from '@airlock/runtime';
import { eventually, natsUrl, startTestStack, type TestStack } from '@airlock/testkit';

async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('decision reuse: a repeated statement is decided once per session and epoch, and recorded every time', () => {
  let t: TestStack;
  let nc: NatsConnection;
  let decideCalls: Subscription;
  let policy: RunningService | undefined;
  let auditor: string;
  /** decide requests seen on the bus: session and statement text */
  const asked: Array<{ sessionId: string; sql: string }> = [];
  const askedAbout = (sql: string) => asked.filter((a) => a.sql === sql).length;

  /** (re)starts the policy service with the test's config, changed by `change` */
  const startPolicy = async (change: (config: any) => void) => {
    await policy?.close();
    policy = undefined;
    const config = structuredClone(loadConfigFile(t.configPath)) as any;
    change(config);
    policy = await startService('policy', t.env, { config, logger: t.logger });
  };
  const cacheSeconds = (seconds: number, more: (config: any) => void = () => undefined) => (config: any) => {
    config.policy = { decisionCacheSeconds: seconds };
    more(config);
  };
  const maskTotal = (config: any) => config.masking.rules.push({ name: 'order-total', table: 'orders', columns: ['total'], action: 'redact' });

  before(async () => {
    // policy is started by each test, with the config it needs
    t = await startTestStack({ names: ['identity', 'approval', 'credential', 'proxy', 'audit'] });
    auditor = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
    nc = await connect({ servers: natsUrl });
    // a plain subscription beside the policy service's queue group receives a copy of every decide request
    decideCalls = nc.subscribe(requestSubject(t.root, policyV1.decide), {
      callback: (_err, msg) => {
        const { sessionId, sql } = msg.json<{ sessionId: string; sql: string }>();
        asked.push({ sessionId, sql });
      },
    });
    await nc.flush();
  });
  after(async () => {
    decideCalls?.unsubscribe();
    await nc?.close();
    await policy?.close();
    await t?.close();
  });

  it('decides a statement repeated 10 times once, records 10 statements, and the transcript shows each one', async () => {
    await startPolicy(cacheSeconds(300));
    const sql = 'SELECT id, customer_id FROM orders WHERE id = 1';
    const analyst = await t.token({ subject: 'agent-reuse', groups: ['analysts'] });
    asked.length = 0;
    const c = await pgClient(t.pgUrl(analyst));
    try {
      for (let i = 0; i < 10; i++) {
        const r = await c.query({ text: sql, rowMode: 'array' });
        assert.deepEqual(r.rows, [[1, 31]]);
      }
    } finally {
      await c.end();
    }
    assert.equal(askedAbout(sql), 1);
    const sessionId = asked.find((a) => a.sql === sql)!.sessionId;
    const rows = await eventually(async () => {
      const r = await t.auditRows('session_id = $1', [sessionId]);
      return r.some((e) => e.event_type === 'proxy.v1.session-closed') && r.filter((e) => e.event_type === 'proxy.v1.query-completed').length === 10 ? r : undefined;
    }, 20_000, 'the session recorded to its end');
    const decided = rows.filter((e) => e.event_type === 'policy.v1.decided');
    assert.equal(decided.length, 1);
    const first = decided[0]!.payload.requestId as string;
    const completed = rows.filter((e) => e.event_type === 'proxy.v1.query-completed').map((e) => e.payload);
    assert.equal(completed.length, 10);
    assert.equal(new Set(completed.map((s) => s.requestId)).size, 10);
    assert.equal(completed[0].requestId, first);
    // a read that ends within moments has its end as its only record (its start is written only when it runs longer):
    // each statement after the first names the reused decision on exactly one of its records
    const started = rows.filter((e) => e.event_type === 'proxy.v1.query-started').map((e) => e.payload);
    assert.ok(started.every((s) => completed.some((c) => c.requestId === s.requestId)));
    const named = (requestId: unknown) => [...started, ...completed].filter((e) => e.requestId === requestId && e.reused !== undefined).map((e) => e.reused);
    assert.deepEqual(named(first), []);
    for (const c of completed.slice(1)) {
      assert.deepEqual(named(c.requestId), [{ requestId: first, outcome: 'allow', rule: 'analysts-read', statementDigest: digest(sql) }]);
    }

    const res = await fetch(`http://127.0.0.1:${t.ports['audit']}/v1/sessions/${sessionId}/replay`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(res.status, 200);
    const statements = (await res.text()).split('\n').filter((l) => l.includes('agent-reuse@demo  SELECT'));
    assert.equal(statements.length, 10);
    for (const line of statements) {
      assert.match(line, /^\+\d+\.\d{3}s  agent-reuse@demo  SELECT id, customer_id FROM orders WHERE id = 1  → allow \(rule analysts-read\) → SELECT 1 rows?, 0 masked cells in \d+ ms$/);
    }
    const detail = (await (await fetch(`http://127.0.0.1:${t.ports['audit']}/v1/sessions/${sessionId}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as {
      statements: Array<{ requestId: string; sql: string | null; reusedFrom?: string; decision: { outcome: string } | null }>;
    };
    assert.deepEqual(
      detail.statements.map((s) => [s.sql, s.decision?.outcome, s.reusedFrom ?? null]),
      detail.statements.map((s, i) => [sql, 'allow', i === 0 ? null : first]),
    );
  });

  it('records the start of a read whose rows reach the client before its end, ahead of its end', async () => {
    await startPolicy(cacheSeconds(300));
    // about 1.5 MB: more than the first batch the proxy reads (1,000 rows, then about 256 KB at a time)
    const sql = "SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 3000) AS g";
    const analyst = await t.token({ subject: 'agent-stream', groups: ['analysts'] });
    asked.length = 0;
    const c = await pgClient(t.pgUrl(analyst));
    try {
      for (let i = 0; i < 2; i++) assert.equal((await c.query({ text: sql, rowMode: 'array' })).rowCount, 3000);
    } finally {
      await c.end();
    }
    const sessionId = asked.find((a) => a.sql === sql)!.sessionId;
    const rows = await eventually(async () => {
      const r = await t.auditRows('session_id = $1', [sessionId]);
      return r.some((e) => e.event_type === 'proxy.v1.session-closed') ? r : undefined;
    }, 20_000, 'the session recorded to its end');
    const statements = rows.filter((e) => e.event_type.startsWith('proxy.v1.query-')).map((e) => [e.event_type, e.payload.requestId, e.payload.reused?.requestId ?? null]);
    const [first, second] = [statements[0]![1], statements[2]![1]];
    assert.deepEqual(statements, [
      ['proxy.v1.query-started', first, null],
      ['proxy.v1.query-completed', first, null],
      ['proxy.v1.query-started', second, first],
      ['proxy.v1.query-completed', second, null],
    ]);
  });

  it('after a new config, every result is masked once the stated bound has passed; none after it is stale', async () => {
    const bound = 2;
    await startPolicy(cacheSeconds(bound));
    const sql = 'SELECT id, total FROM orders WHERE id = 1';
    const analyst = await t.token({ subject: 'agent-load', groups: ['analysts'] });
    const clients = await Promise.all([pgClient(t.pgUrl(analyst)), pgClient(t.pgUrl(analyst))]);
    const seen: Array<{ at: number; result: 'clear' | 'masked' | 'failed' }> = [];
    let running = true;
    let changedAt = Infinity;
    const load = clients.map(async (c) => {
      while (running) {
        const at = Date.now();
        try {
          const r = await c.query({ text: sql, rowMode: 'array' });
          seen.push({ at, result: r.rows[0]![1] === null ? 'masked' : 'clear' });
        } catch {
          seen.push({ at, result: 'failed' });
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    try {
      await eventually(async () => (seen.filter((s) => s.result === 'clear').length >= 20 ? true : undefined), 20_000, 'statements running unmasked');
      await startPolicy(cacheSeconds(bound, maskTotal));
      changedAt = Date.now();
      await eventually(async () => (seen.filter((s) => s.at >= changedAt + bound * 1000).length >= 20 ? true : undefined), 30_000, 'statements after the bound');
    } finally {
      running = false;
      await Promise.all(load);
      await Promise.all(clients.map((c) => c.end()));
    }
    assert.ok(seen.some((s) => s.at < changedAt && s.result === 'clear'));
    const late = seen.filter((s) => s.at >= changedAt + bound * 1000);
    assert.ok(late.length >= 20);
    assert.deepEqual([...new Set(late.map((s) => s.result))], ['masked']);
  });

  it('a changed catalogue ends reuse at once: a column added with a masking rule comes back masked', async () => {
    const secret = (config: any) => config.masking.rules.push({ name: 'order-secret', table: 'orders', columns: ['secret'], action: 'redact' });
    // reuse would outlast the test: only the epoch event can end it
    await startPolicy(cacheSeconds(300, secret));
    const sql = 'SELECT * FROM orders WHERE id = 1';
    const analyst = await t.token({ subject: 'agent-schema', groups: ['analysts'] });
    const c = await pgClient(t.pgUrl(analyst));
    // another session: what it sends does not touch the first session's reused decisions
    const other = await pgClient(t.pgUrl(analyst));
    const admin = await pgClient(t.demoUrl);
    try {
      asked.length = 0;
      for (let i = 0; i < 3; i++) assert.equal((await c.query({ text: sql, rowMode: 'array' })).fields.length, 4);
      assert.equal(askedAbout(sql), 1);
      await admin.query("ALTER TABLE orders ADD COLUMN secret text NOT NULL DEFAULT 'top-secret'");
      // a statement naming a relation policy does not know makes it read the catalogue again (at most every 5 s)
      const masked = await eventually(
        async () => {
          await other.query('SELECT * FROM not_there').catch(() => undefined);
          const r = await c.query({ text: sql, rowMode: 'array' });
          // decided anew with the new catalogue: the id in clear and the new column masked (until then the proxy shows
          // nothing in clear, as the result is wider than the decision's plan)
          return r.rows[0]![0] === 1 && r.rows[0]![4] === '[REDACTED]' ? r : undefined;
        },
        20_000,
        'the new column masked',
      );
      assert.deepEqual(masked.fields.map((f) => f.name), ['id', 'customer_id', 'total', 'created_at', 'secret']);
      assert.equal(askedAbout(sql), 2);
    } finally {
      await admin.query('ALTER TABLE orders DROP COLUMN IF EXISTS secret');
      await admin.end();
      await other.end();
      await c.end();
    }
  });

  it('a result wider than the catalogue policy decided with shows nothing in clear until policy reads it again', async () => {
    // every statement decided, with the catalogue policy read before the column existed
    await startPolicy(cacheSeconds(0));
    const sql = 'SELECT * FROM orders WHERE id = 1';
    const analyst = await t.token({ subject: 'agent-stale', groups: ['analysts'] });
    const c = await pgClient(t.pgUrl(analyst));
    const admin = await pgClient(t.demoUrl);
    try {
      const before = await c.query({ text: sql, rowMode: 'array' });
      assert.deepEqual(before.fields.map((f) => f.name), ['id', 'customer_id', 'total', 'created_at']);
      assert.equal(before.rows[0]![0], 1);
      // no rule names this column: only the stale catalogue stands between it and the client
      await admin.query("ALTER TABLE orders ADD COLUMN stale_note text NOT NULL DEFAULT 'not-for-agents'");
      const wider = await c.query({ text: sql, rowMode: 'array' });
      assert.deepEqual(wider.fields.map((f) => f.name), ['id', 'customer_id', 'total', 'created_at', 'stale_note']);
      // numbers and times become NULL, text is redacted: the plan's four columns no longer say which value is which
      assert.deepEqual(wider.rows, [[null, null, null, null, '[REDACTED]']]);
      assert.ok(!JSON.stringify(wider.rows).includes('not-for-agents'));
    } finally {
      await admin.query('ALTER TABLE orders DROP COLUMN IF EXISTS stale_note');
      await admin.end();
      await c.end();
    }
  });

  it('with decisionCacheSeconds: 0, decides every statement', async () => {
    await startPolicy(cacheSeconds(0));
    const sql = 'SELECT id FROM orders WHERE id = 2';
    const analyst = await t.token({ subject: 'agent-nocache', groups: ['analysts'] });
    asked.length = 0;
    const c = await pgClient(t.pgUrl(analyst));
    try {
      for (let i = 0; i < 5; i++) assert.deepEqual((await c.query({ text: sql, rowMode: 'array' })).rows, [[2]]);
    } finally {
      await c.end();
    }
    assert.equal(askedAbout(sql), 5);
  });
});
