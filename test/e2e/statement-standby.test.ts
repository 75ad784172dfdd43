import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { demoOrders } from '@airlock/cli';
import { databaseUrl, eventually, rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';
import { WARM_UP } from '../../services/proxy/src/engines/postgres/upstream.js';

const SIZE = 4;
const OPEN = 2;

describe('per-statement leases on upstream connections the proxy opened ahead under standby credentials', () => {
  let t: TestStack;
  let state: pg.Client;
  let demo: pg.Client;
  const orders = demoOrders();

  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        c['connections']['demo']['leases'] = { ...c['connections']['demo']['leases'], mode: 'statement', pool: { size: SIZE, maxWaitSeconds: 3600, open: OPEN } };
      },
    });
    state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
    demo = new pg.Client({ connectionString: t.demoUrl });
    await demo.connect();
  });
  after(async () => {
    await state?.end();
    await demo?.end();
    await t?.close();
  });

  /** the standby leases, once the proxy holds `OPEN` of them, each with its upstream session open */
  const standby = () =>
    eventually(
      async () => {
        const { rows } = await state.query<{ id: string; username: string }>(`SELECT id, username FROM leases WHERE state = 'standby' ORDER BY created_at`);
        if (rows.length !== OPEN) return undefined;
        const { rows: live } = await demo.query<{ usename: string }>('SELECT usename FROM pg_stat_activity WHERE usename = ANY($1)', [rows.map((r) => r.username)]);
        return live.length === OPEN ? rows : undefined;
      },
      20_000,
      'the proxy to hold its standby connections',
    );

  it('opens connections ahead under credentials that can read nothing: no membership, and the demo tables refused', async () => {
    const held = await standby();
    // each was readied with the catalogue lookup (its last statement, which succeeded), so that the statement that takes
    // it does not pay for a fresh server session's first query
    const { rows: sessions } = await demo.query<{ usename: string; state: string; query: string }>(
      'SELECT usename, state, query FROM pg_stat_activity WHERE usename = ANY($1) ORDER BY usename',
      [held.map((h) => h.username)],
    );
    assert.deepEqual(
      sessions,
      held.map((h) => ({ usename: h.username, state: 'idle', query: WARM_UP })).sort((a, b) => (a.usename < b.usename ? -1 : 1)),
    );
    for (const { username } of held) {
      const { rows: members } = await demo.query(
        'SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1',
        [username],
      );
      assert.deepEqual(members, [], `${username} is a member of nothing`);
      const { rows } = await demo.query<{ rolcanlogin: boolean; rolconnlimit: number }>('SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = $1', [username]);
      // it can log in, once: the proxy's connection is that one
      assert.deepEqual(rows, [{ rolcanlogin: true, rolconnlimit: 1 }]);
      // what the open session could read, with the role's own rights: nothing of the demo's
      for (const table of ['customers', 'orders']) {
        await demo.query('BEGIN');
        try {
          await demo.query(`SET LOCAL ROLE ${pg.escapeIdentifier(username)}`);
          await assert.rejects(demo.query(`SELECT count(*) FROM ${table}`), (err: { code: string }) => {
            assert.equal(err.code, '42501');
            return true;
          });
        } finally {
          await demo.query('ROLLBACK');
        }
      }
    }
  });

  it("runs each statement on a standby connection, whose lease becomes the statement's, revoked after it", async () => {
    const token = await t.token({ subject: 'agent-standby', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(token) });
    await c.connect();
    const used: Array<{ id: string; username: string }> = [];
    try {
      for (const [i, query] of [
        { text: 'SELECT id, total FROM orders WHERE id = 1', rowMode: 'array' as const },
        { text: 'SELECT id, total FROM orders WHERE id = $1', values: [2], rowMode: 'array' as const },
        { text: 'SELECT id, total FROM orders WHERE id = 3', rowMode: 'array' as const },
      ].entries()) {
        const held = await standby();
        const res = await c.query(query);
        assert.deepEqual(res.rows, [[orders[i]!.id, orders[i]!.total]]);
        // the statement's lease is a standby lease the proxy held before it: the same row, now the statement's
        const { rows } = await state.query<{ id: string; username: string; mode: string; subject: string; decision_id: string | null }>(
          `SELECT id, username, mode, subject, decision_id FROM leases WHERE subject = 'agent-standby' ORDER BY created_at DESC LIMIT 1`,
        );
        const lease = rows[0]!;
        assert.ok(held.some((h) => h.id === lease.id && h.username === lease.username), 'the lease took a standby credential');
        assert.equal(lease.mode, 'statement');
        assert.notEqual(lease.decision_id, null);
        assert.ok(!used.some((u) => u.username === lease.username), 'each statement has a role of its own');
        used.push(lease);
      }
    } finally {
      await c.end();
    }
    await eventually(
      async () => {
        const { rows } = await state.query<{ state: string; revoke_reason: string }>(`SELECT state, revoke_reason FROM leases WHERE id = ANY($1::uuid[])`, [used.map((u) => u.id)]);
        return rows.every((r) => r.state === 'revoked') ? rows.map((r) => r.revoke_reason) : undefined;
      },
      20_000,
      'every statement lease revoked',
    ).then((reasons) => assert.deepEqual(reasons, ['statement-complete', 'statement-complete', 'statement-complete']));
    const roles = await rolesWithPrefix(t.rolePrefix);
    assert.deepEqual(roles.filter((r) => used.some((u) => u.username === r)), []);
    // what is left under the prefix is the pool and the standby credentials, each recorded in one table
    const { rows: held } = await state.query<{ username: string }>(
      `SELECT username FROM leases WHERE state <> 'revoked' UNION ALL SELECT username FROM pooled_credentials ORDER BY 1`,
    );
    await eventually(async () => {
      const now = await rolesWithPrefix(t.rolePrefix);
      return JSON.stringify(now.sort()) === JSON.stringify(held.map((h) => h.username).sort()) ? true : undefined;
    }, 10_000, 'every role under the prefix to be a lease or pooled');
  });
});
