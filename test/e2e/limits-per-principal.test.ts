// Nothing limits a principal no more: one agent's sessions and statements in flight are capped per proxy
// (proxy.limits.sessionsPerPrincipal, statementsPerPrincipal), the refusal names the limit and the key that raises it
// (PostgreSQL: SQLSTATE 53300 too_many_connections), and other principals are not affected. Real clients: `pg`, and
// the unmodified snowflake-sdk for a login over the cap.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

snowflake.configure({ logLevel: 'OFF', useEnvProxy: false } as Parameters<typeof snowflake.configure>[0]);

const sessionsPerPrincipal = 10;
const statementsPerPrincipal = 2;

const sessionRefusal = (subject: string) =>
  `Airlock refused this session: ${subject} already has ${sessionsPerPrincipal} open sessions on this proxy, the most one principal may hold (proxy.limits.sessionsPerPrincipal); close one, or ask the operator to raise proxy.limits.sessionsPerPrincipal`;

describe('limits per principal', () => {
  let t: TestStack;
  before(async () => {
    t = await startTestStack({
      keepWarehouse: true,
      configure: (c) => {
        c['proxy'] = { ...c['proxy'], limits: { sessionsPerPrincipal, statementsPerPrincipal } };
        c['approval'] = { ...c['approval'], holdSeconds: 60 };
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  it('50 connections of one principal against a cap of 10: exactly 10 open, 40 are refused with 53300 naming the limit; another principal still connects', async () => {
    const token = await t.token({ subject: 'agent-greedy', groups: ['analysts'] });
    const clients = Array.from({ length: 50 }, () => new pg.Client({ connectionString: t.pgUrl(token) }));
    for (const c of clients) c.on('error', () => undefined);
    const outcomes = await Promise.allSettled(clients.map((c) => c.connect()));
    const opened = clients.filter((_, i) => outcomes[i]!.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(opened.length, sessionsPerPrincipal);
    assert.equal(refused.length, 50 - sessionsPerPrincipal);
    for (const r of refused) {
      const err = r.reason as { code?: string; severity?: string; message: string };
      assert.deepEqual({ code: err.code, severity: err.severity, message: err.message }, { code: '53300', severity: 'FATAL', message: sessionRefusal('agent-greedy') });
    }
    try {
      // the ten work
      for (const [i, c] of opened.entries()) assert.deepEqual((await c.query('SELECT id FROM orders WHERE id = $1', [i + 1])).rows, [{ id: i + 1 }]);

      // another principal is not affected, on either door
      const other = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-modest', groups: ['analysts'] })) });
      await other.connect();
      assert.deepEqual((await other.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
      await other.end();

      // the same principal at the Snowflake door: its sessions count there too, and the driver gets the message
      const conn = snowflake.createConnection({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token } as snowflake.ConnectionOptions);
      await assert.rejects(
        new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve()))),
        (err: { message: string }) => {
          assert.equal(err.message, sessionRefusal('agent-greedy'));
          return true;
        },
      );

      // a closed session gives its slot back
      await opened.pop()!.end();
      const again = await eventually(async () => {
        const c = new pg.Client({ connectionString: t.pgUrl(token) });
        c.on('error', () => undefined);
        try {
          await c.connect();
          return c;
        } catch {
          return undefined;
        }
      }, 10_000, 'a slot after a close');
      assert.deepEqual((await again.query('SELECT id FROM orders WHERE id = 2')).rows, [{ id: 2 }]);
      opened.push(again);
    } finally {
      await Promise.all(opened.map((c) => c.end().catch(() => undefined)));
    }
  });

  it('statements in flight: a third statement while two wait for approval is refused naming statementsPerPrincipal', async () => {
    const token = await t.token({ subject: 'agent-busy', groups: ['analysts'] });
    const clients = await Promise.all(
      [0, 1, 2].map(async () => {
        const c = new pg.Client({ connectionString: t.pgUrl(token) });
        c.on('error', () => undefined);
        await c.connect();
        return c;
      }),
    );
    try {
      // two DELETEs held for a dba's approval: both in flight
      const held = clients.slice(0, 2).map((c) => {
        const notice = new Promise<string>((resolve) => c.once('notice', (n) => resolve(n.message ?? '')));
        const result = c.query('DELETE FROM orders WHERE id = 20');
        result.catch(() => undefined);
        return { notice, result };
      });
      for (const h of held) assert.match(await h.notice, /approval/i);
      await assert.rejects(clients[2]!.query('SELECT id FROM orders WHERE id = 1'), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '53300');
        assert.equal(
          err.message,
          `Airlock refused this statement: agent-busy already has ${statementsPerPrincipal} statements running on this proxy, the most one principal may run at once (proxy.limits.statementsPerPrincipal); wait for one to finish, or ask the operator to raise proxy.limits.statementsPerPrincipal`,
        );
        return true;
      });
      // the refused connection stays usable, and a statement runs once a held one ends with its connection
      await clients[0]!.end();
      await eventually(async () => {
        try {
          return (await clients[2]!.query('SELECT id FROM orders WHERE id = 1')).rows;
        } catch {
          return undefined;
        }
      }, 10_000, 'a statement slot after a close');
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  });
});
