import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { SignJWT, generateKeyPair } from 'jose';
import { demoCustomers, demoOrders } from '@airlock/cli';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';
import { Bus, newContext } from '@airlock/runtime';
import { credentialV1 } from '@airlock/contracts';

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** upstream backends running a statement whose text contains `fragment` */
async function backendsRunning(fragment: string): Promise<number> {
  const admin = await connect(databaseUrl('postgres'));
  try {
    const r = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()", [fragment]);
    return r.rows[0].n as number;
  } finally {
    await admin.end();
  }
}

async function loginError(url: string): Promise<{ code: string; message: string }> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    const e = err as { code: string; message: string };
    return { code: e.code, message: e.message };
  } finally {
    await client.end().catch(() => undefined);
  }
  throw new Error('login succeeded but should have been refused');
}


describe('one statement end to end through all six services (PostgreSQL)', () => {
  let t: TestStack;
  let analyst: string;
  const orders = demoOrders();
  const customers = demoCustomers();

  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        c['approval'] = { ...c['approval'], holdSeconds: 1 };
        c['proxy'] = { ...c['proxy'], heartbeatSeconds: 1 };
      },
    });
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
  });
  after(async () => {
    await t?.close();
  });

  it('runs a simple-protocol SELECT and returns the exact rows', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      const res = await c.query({ text: 'SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 5', rowMode: 'array' });
      assert.deepEqual(
        res.rows,
        orders.slice(0, 5).map((o) => [o.id, o.customer_id, o.total]),
      );
      assert.deepEqual(res.fields.map((f) => f.name), ['id', 'customer_id', 'total']);
      assert.equal(res.command, 'SELECT');
      assert.equal(res.rowCount, 5);
    } finally {
      await c.end();
    }
  });

  it('runs extended-protocol statements with parameters, named and unnamed', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      const one = await c.query('SELECT id, total FROM orders WHERE id = $1', [3]);
      assert.deepEqual(one.rows, [{ id: 3, total: orders[2]!.total }]);
      const named = { name: 'by-customer', text: 'SELECT count(*)::int AS n FROM orders WHERE customer_id = $1', values: [7] };
      const expected = orders.filter((o) => o.customer_id === 7).length;
      assert.deepEqual((await c.query(named)).rows, [{ n: expected }]);
      assert.deepEqual((await c.query({ ...named, values: [8] })).rows, [{ n: orders.filter((o) => o.customer_id === 8).length }]);
      const nulls = await c.query('SELECT $1::text AS a, $2::int AS b', [null, 5]);
      assert.deepEqual(nulls.rows, [{ a: null, b: 5 }]);
    } finally {
      await c.end();
    }
  });

  it('keeps a transaction on one upstream connection', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      await c.query('BEGIN');
      const a = await c.query('SELECT txid_current() AS x');
      const b = await c.query('SELECT txid_current() AS x');
      assert.equal(a.rows[0].x, b.rows[0].x);
      await c.query('COMMIT');
      const d = await c.query('SELECT txid_current() AS x');
      assert.notEqual(d.rows[0].x, a.rows[0].x);
      await c.query('BEGIN');
      await assert.rejects(c.query('SELECT 1/0'), (e: { code: string }) => e.code === '22012');
      await assert.rejects(c.query('SELECT 1'), (e: { code: string }) => e.code === '25P02');
      await c.query('ROLLBACK');
      assert.deepEqual((await c.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
    } finally {
      await c.end();
    }
  });

  it('streams a 1,000,000-row result in memory that does not grow with the row count', async () => {
    // heap measured after a full collection every 100,000 rows: garbage does not count, held rows would
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const c = await connect(t.pgUrl(analyst));
    try {
      gc();
      const base = process.memoryUsage().heapUsed;
      let peak = 0;
      let rows = 0;
      let lastId = 0;
      const cursor = c.query(new Cursor("SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 1000000) g", [], { rowMode: 'array' }));
      for (;;) {
        const batch: Array<[number, string]> = await cursor.read(10_000);
        if (batch.length === 0) break;
        rows += batch.length;
        lastId = batch[batch.length - 1]![0];
        if (rows % 100_000 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - base);
        }
      }
      await cursor.close();
      assert.deepEqual([rows, lastId], [1_000_000, 1_000_000]);
      // the rows are ~200 MB of payload: a proxy (in this process) that held them would show it here
      assert.ok(peak < 40 * 1024 * 1024, `live heap grew ${Math.round(peak / 1048576)} MB while streaming`);
    } finally {
      await c.end();
    }
  });

  it("cancels a running statement on the client's cancel request, and the session goes on", async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      // long enough to be running when the cancel arrives, however loaded the machine
      const running = c.query('SELECT count(*) FROM generate_series(1, 2000000000) g');
      const key = c as unknown as { processID: number; secretKey: number };
      await eventually(async () => ((await backendsRunning('generate_series(1, 2000000000)')) > 0 ? true : undefined), 20_000, 'the statement runs upstream');
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(new URL(t.pgUrl(analyst)).port), '127.0.0.1', () => {
          const b = Buffer.alloc(16);
          b.writeInt32BE(16, 0);
          b.writeInt32BE(80877102, 4);
          b.writeInt32BE(key.processID, 8);
          b.writeInt32BE(key.secretKey, 12);
          socket.end(b);
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      await assert.rejects(running, (e: { code: string; message: string }) => e.code === '57014' && /canceling statement due to user request/.test(e.message));
      const after = await c.query({ text: 'SELECT id FROM orders WHERE id = $1', values: [orders[0]!.id], rowMode: 'array' });
      assert.deepEqual(after.rows, [[orders[0]!.id]]);
    } finally {
      await c.end();
    }
  });

  it('masks by lineage for analysts and shows clear values to pii-readers', async () => {
    const reader = await t.token({ subject: 'reader-1', groups: ['pii-readers'] });
    const a = await connect(t.pgUrl(analyst));
    const r = await connect(t.pgUrl(reader));
    try {
      const masked = await a.query('SELECT id, email, card_number AS x, ssn, notes FROM customers WHERE id IN (1, 5) ORDER BY id');
      const c1 = customers[0]!;
      const c5 = customers[4]!;
      assert.equal(masked.rows[0].email, `***@${c1.email.split('@')[1]}`);
      assert.equal(masked.rows[0].x, `************${c1.card_number.slice(-4)}`);
      assert.equal(masked.rows[0].ssn, '[REDACTED]');
      assert.equal(masked.rows[1].notes, "Called support; paid with card [card] instead of the one on file.");
      const clear = await r.query('SELECT id, email, card_number, ssn FROM customers WHERE id = 1');
      assert.deepEqual(clear.rows, [{ id: 1, email: c1.email, card_number: c1.card_number, ssn: c1.ssn }]);
      await assert.rejects(a.query("SELECT id FROM customers WHERE ssn LIKE '1%'"), (e: { code: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.match(e.message, /filtering on customers\.ssn, which is masked for you/);
        assert.doesNotMatch(e.message, /'1%'/);
        return true;
      });
    } finally {
      await a.end();
      await r.end();
    }
  });

  it('refuses a statement the policy denies with a PostgreSQL error naming the rule', async () => {
    const c = await connect(t.pgUrl(analyst));
    try {
      await assert.rejects(c.query('DROP TABLE orders'), (e: { code: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.equal(e.message, 'Airlock refused this statement (rule "refuse-ddl"): DDL and GRANT are not allowed through Airlock; ask a DBA to make schema changes');
        return true;
      });
      await assert.rejects(c.query('SELEC 1'), (e: { code: string; message: string }) => e.code === '42601' && /could not parse/.test(e.message));
      await assert.rejects(c.query('SELECT 1; SELECT 2'), (e: { code: string }) => e.code === '0A000');
      await assert.rejects(c.query("SELECT pg_read_file('/etc/passwd')"), (e: { code: string; message: string }) => e.code === '42501' && /pg_read_file/.test(e.message));
      // the session keeps working after refusals
      assert.deepEqual((await c.query('SELECT count(*)::int AS n FROM orders')).rows, [{ n: orders.length }]);
    } finally {
      await c.end();
    }
  });

  it('holds a statement that needs approval, tells the client at once, then answers pending with the request id', async () => {
    const c = await connect(t.pgUrl(analyst));
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      await assert.rejects(c.query('DELETE FROM orders WHERE id = 1'), (e: { code: string; message: string }) => {
        assert.equal(e.code, '57014');
        assert.match(e.message, /^this statement needs approval \(rule "orders-writes-need-dba"\) by dba: request [0-9a-f-]{36} is pending until .+ Send the same statement again once it is approved and it will run\.$/);
        return true;
      });
      assert.equal(notices.length, 1);
      assert.match(notices[0]!, /^Airlock is holding this statement for approval \(rule "orders-writes-need-dba"\) by dba: request [0-9a-f-]{36}\. An approver runs: npx airlock approvals approve [0-9a-f-]{36}$/);
      assert.deepEqual((await c.query('SELECT count(*)::int AS n FROM orders')).rows, [{ n: orders.length }]);
    } finally {
      await c.end();
    }
  });

  it('refuses bad, foreign-audience, expired and unsigned tokens at login with 28P01', async () => {
    const bad = await loginError(t.pgUrl('not-a-token'));
    assert.equal(bad.code, '28P01');
    assert.match(bad.message, /not a well-formed JWT/);

    const otherAud = await loginError(t.pgUrl(await t.token({ subject: 'agent-1', groups: ['analysts'], audience: 'some-other-api' })));
    assert.equal(otherAud.code, '28P01');
    assert.match(otherAud.message, /takes tokens issued for audience airlock, and this token was issued for another; request a token for airlock$/);

    const expired = await loginError(t.pgUrl(await t.token({ subject: 'agent-1', groups: ['analysts'], ttlSeconds: -120 })));
    assert.equal(expired.code, '28P01');
    assert.match(expired.message, /expired/);

    const [h, p] = analyst.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const none = await loginError(t.pgUrl(`${header}.${p}.`));
    assert.equal(none.code, '28P01');
    assert.ok(h);

    const { privateKey } = await generateKeyPair('ES256');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'forged' }).sign(privateKey);
    const f = await loginError(t.pgUrl(forged));
    assert.equal(f.code, '28P01');
    assert.match(f.message, /signature/);

    const unknown = await loginError(t.pgUrl(analyst, 'nowhere'));
    assert.equal(unknown.code, '3D000');
  });

  it('revokes the session role on disconnect and records the whole lifecycle in order', async () => {
    const c = await connect(t.pgUrl(analyst));
    await c.query('SELECT id FROM orders WHERE id = 1');
    assert.equal((await rolesWithPrefix(t.rolePrefix)).length, 1);
    await c.end();
    await eventually(async () => ((await rolesWithPrefix(t.rolePrefix)).length === 0 ? true : undefined), 10_000, 'lease role dropped');

    // this connection's session: the closed one whose only statement is this one (an earlier test's session may
    // close later than this one)
    const sessionId = await eventually(async () => {
      const closed = await t.auditRows("event_type = 'proxy.v1.session-closed'");
      for (const row of closed.reverse()) {
        const id = row.payload.sessionId as string;
        const decided = await t.auditRows("session_id = $1 AND event_type = 'policy.v1.decided'", [id]);
        if (decided.length === 1 && decided[0]!.payload.sql === 'SELECT id FROM orders WHERE id = 1') return id;
      }
      return undefined;
    }, 10_000, "this connection's closed session");
    const events = await eventually(async () => {
      const rows = await t.auditRows('session_id = $1', [sessionId]);
      return rows.some((r) => r.event_type === 'credential.v1.revoked') ? rows : undefined;
    });
    // a read's start is recorded only when it runs longer than 50 ms (or streams): otherwise its end is its record
    const startedAt = events.findIndex((e) => e.event_type === 'proxy.v1.query-started');
    if (startedAt >= 0) {
      assert.equal(events[startedAt + 1]!.event_type, 'proxy.v1.query-completed');
      assert.equal(events[startedAt]!.payload.requestId, events[startedAt + 1]!.payload.requestId);
    }
    const recorded = events.filter((e) => e.event_type !== 'proxy.v1.query-started');
    assert.deepEqual(recorded.map((e) => e.event_type), [
      'identity.v1.token-verified',
      'proxy.v1.session-opened',
      'policy.v1.decided',
      'credential.v1.issued',
      'proxy.v1.query-completed',
      'credential.v1.revoked',
      'proxy.v1.session-closed',
    ]);
    const [verified, open, decided, issued, completed, revoked] = recorded.map((e) => e.payload);
    assert.deepEqual(verified.principal, { subject: 'agent-1', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] });
    assert.deepEqual(open.principal, { subject: 'agent-1', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] });
    assert.equal(decided.sql, 'SELECT id FROM orders WHERE id = 1');
    assert.equal(decided.decision.outcome, 'allow');
    assert.equal(decided.decision.rule, 'analysts-read');
    assert.deepEqual(decided.decision.analysis.tables, [{ schema: 'public', table: 'orders', access: 'read' }]);
    assert.equal(issued.lease.role, 'demo_reader');
    assert.equal(completed.leaseId, issued.lease.leaseId);
    assert.equal(completed.rows, 1);
    assert.equal(completed.command, 'SELECT 1');
    assert.equal(revoked.leaseId, issued.lease.leaseId);
    assert.equal(revoked.reason, 'client-terminated');
  });

  it('ends the client connection when its lease is revoked elsewhere', async () => {
    const c = await connect(t.pgUrl(analyst));
    const errors: Array<{ code?: string; message: string }> = [];
    c.on('error', (e) => errors.push(e as { code?: string; message: string }));
    await c.query('SELECT id FROM orders WHERE id = 2');
    const lease = await eventually(async () => {
      const s = await connect(databaseUrl(t.stateDb));
      try {
        const { rows } = await s.query<{ id: string }>("SELECT id FROM leases WHERE subject = 'agent-1' AND state = 'active'");
        return rows.length === 1 ? rows[0]!.id : undefined;
      } finally {
        await s.end();
      }
    });
    const bus = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'test', logger: t.logger });
    try {
      assert.deepEqual(await bus.call(credentialV1.revokeLease, { leaseId: lease, reason: 'operator' }, newContext()), { leaseId: lease, state: 'revoked' });
    } finally {
      await bus.close();
    }
    const ended = await eventually(async () => (errors.length > 0 ? errors[0] : undefined), 10_000, 'the connection ended');
    assert.equal(ended!.code, '57P01');
    assert.match(ended!.message, /^Airlock ended this session: its database credential was revoked/);
    await c.end().catch(() => undefined);
  });

  it('never logs a token, a password or a row value', async () => {
    const text = t.logs.text();
    assert.ok(text.length > 0);
    assert.ok(!text.includes(analyst), 'a token was logged');
    for (const c of customers.slice(0, 10)) {
      assert.ok(!text.includes(c.email), 'an email was logged');
      assert.ok(!text.includes(c.card_number), 'a card number was logged');
    }
    assert.doesNotMatch(text, /PASSWORD|SCRAM-SHA-256\$/);
  });
});
