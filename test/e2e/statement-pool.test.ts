import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { demoOrders } from '@airlock/cli';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

const SIZE = 2;

describe('per-statement leases through the PostgreSQL front door, on pooled credentials', () => {
  let t: TestStack;
  let state: pg.Client;
  const orders = demoOrders();

  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        c['connections']['demo']['leases'] = { ...c['connections']['demo']['leases'], mode: 'statement', pool: { size: SIZE, maxWaitSeconds: 3600 } };
      },
    });
    state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
  });
  after(async () => {
    await state?.end();
    await t?.close();
  });

  /** the pool's usernames once it holds `SIZE` ready credentials */
  const fullPool = () =>
    eventually(
      async () => {
        const { rows } = await state.query<{ username: string; state: string }>('SELECT username, state FROM pooled_credentials ORDER BY username');
        return rows.length === SIZE && rows.every((r) => r.state === 'ready') ? rows.map((r) => r.username) : undefined;
      },
      20_000,
      'the pool to be full',
    );

  it('runs each statement on its own pooled role, revoked after it, with the exact rows', async () => {
    const token = await t.token({ subject: 'agent-pooled', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(token) });
    await c.connect();
    const used: string[] = [];
    try {
      for (const [i, query] of [
        { text: 'SELECT id, total FROM orders WHERE id = 1', rowMode: 'array' as const },
        // the extended protocol, as drivers send it
        { text: 'SELECT id, total FROM orders WHERE id = $1', values: [2], rowMode: 'array' as const },
        { text: 'SELECT id, total FROM orders WHERE id = 3', rowMode: 'array' as const },
      ].entries()) {
        const pooled = await fullPool();
        const res = await c.query(query);
        const o = orders[i]!;
        assert.deepEqual(res.rows, [[o.id, o.total]]);
        // the statement's lease is the newest, and its role came from the pool as it stood before the statement
        const { rows } = await state.query<{ username: string; mode: string }>('SELECT username, mode FROM leases ORDER BY created_at DESC LIMIT 1');
        assert.equal(rows[0]!.mode, 'statement');
        assert.ok(pooled.includes(rows[0]!.username), 'the lease took a pooled role');
        assert.ok(!used.includes(rows[0]!.username), 'each statement has a role of its own');
        used.push(rows[0]!.username);
      }
    } finally {
      await c.end();
    }
    // every statement's lease revoked and its role dropped: under the prefix, only the refilled pool is left
    await eventually(
      async () => {
        const { rows } = await state.query<{ n: number }>(`SELECT count(*)::int AS n FROM leases WHERE state <> 'revoked'`);
        return rows[0]!.n === 0 ? true : undefined;
      },
      20_000,
      'every lease revoked',
    );
    const roles = await rolesWithPrefix(t.rolePrefix);
    assert.deepEqual(roles.filter((r) => used.includes(r)), []);
    assert.deepEqual(roles, await fullPool());
    // what an operator watches: every draw found a pooled credential, and the pool is full
    const metrics = await (await fetch(`http://127.0.0.1:${t.ports['credentialMetrics']}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.equal(sample('airlock_credential_pool_draws_total{connection="demo",outcome="pooled"}'), 3);
    assert.doesNotMatch(metrics, /outcome="drained"/);
    assert.equal(sample('airlock_credential_pooled{connection="demo",state="ready"}'), SIZE);
  });

  it("answers a statement, and the next one, while the revocation of the first one's role is still held up; both roles are dropped once it can proceed", { timeout: 20_000 }, async () => {
    // The proxy gives up waiting on a revocation call after 30 s and leaves it to the sweeper; a session whose next
    // statement waited for the previous statement's revocation would therefore answer only after that, past this test's
    // time. Here nothing is held up but the revocations themselves.
    const pooled = await fullPool();
    // the revocation takes the per-role advisory lock on the upstream first: held here, every revocation of these
    // roles waits for it, however long the client goes on
    const locker = new pg.Client({ connectionString: t.demoUrl });
    await locker.connect();
    const token = await t.token({ subject: 'agent-revoked-later', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(token) });
    await c.connect();
    try {
      for (const u of pooled) await locker.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`airlock-revoke:${u}`]);
      const first = await c.query({ text: 'SELECT id, total FROM orders WHERE id = 4', rowMode: 'array' });
      assert.deepEqual(first.rows, [[orders[3]!.id, orders[3]!.total]]);
      // the next statement does not wait for the first one's revocation
      const second = await c.query({ text: 'SELECT id, total FROM orders WHERE id = 5', rowMode: 'array' });
      assert.deepEqual(second.rows, [[orders[4]!.id, orders[4]!.total]]);
      const { rows: leased } = await state.query<{ username: string; state: string }>(
        `SELECT username, state FROM leases WHERE subject = 'agent-revoked-later' ORDER BY created_at`,
      );
      assert.equal(leased.length, 2);
      assert.ok(pooled.includes(leased[0]!.username), 'the first statement ran on a pooled role whose revocation is held up');
      // the first role's revocation is indeed held up: its lease is not revoked and the role still exists, yet its
      // upstream session is closed, so nothing can run under it meanwhile
      assert.notEqual(leased[0]!.state, 'revoked');
      assert.ok((await rolesWithPrefix(t.rolePrefix)).includes(leased[0]!.username));
      await eventually(
        async () => ((await locker.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [leased[0]!.username])).rowCount === 0 ? true : undefined),
        10_000,
        "the first lease's upstream session to be closed",
      );
      await locker.query('SELECT pg_advisory_unlock_all()');
      await eventually(
        async () => {
          const { rows } = await state.query<{ state: string; revoke_reason: string }>(`SELECT state, revoke_reason FROM leases WHERE subject = 'agent-revoked-later'`);
          return rows.every((r) => r.state === 'revoked') ? rows.map((r) => r.revoke_reason) : undefined;
        },
        20_000,
        'both leases revoked',
      ).then((reasons) => assert.deepEqual(reasons, ['statement-complete', 'statement-complete']));
      const roles = await rolesWithPrefix(t.rolePrefix);
      for (const { username } of leased) assert.ok(!roles.includes(username), `${username} is dropped`);
    } finally {
      await locker.end();
      await c.end();
    }
  });
});
