// Transaction control through the PostgreSQL front door, kept by what policy's analysis says each statement does:
// BEGIN before any upstream is kept and replayed, savepoints run inside the upstream transaction, END and ABORT are
// COMMIT and ROLLBACK, a savepoint outside a transaction is refused, and two-phase commit is refused (a prepared
// transaction would keep its changes and locks after the session and its credential end).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

describe('transaction control as policy classifies it (PostgreSQL front door)', () => {
  let t: TestStack;
  let analyst: string;

  before(async () => {
    t = await startTestStack();
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
  });
  after(async () => {
    await t?.close();
  });

  const connect = async () => {
    const c = new pg.Client({ connectionString: t.pgUrl(analyst) });
    await c.connect();
    return c;
  };

  it('replays START TRANSACTION with its options, runs savepoints upstream, and ends with END', async () => {
    const c = await connect();
    try {
      assert.equal((await c.query('START TRANSACTION READ ONLY')).command, 'BEGIN');
      const a = await c.query('SELECT txid_current() AS x, current_setting($1) AS ro', ['transaction_read_only']);
      assert.equal(a.rows[0].ro, 'on');
      assert.equal((await c.query('SAVEPOINT before_error')).command, 'SAVEPOINT');
      await assert.rejects(c.query('SELECT 1/0'), (e: { code: string }) => e.code === '22012');
      assert.equal((await c.query('ROLLBACK TO SAVEPOINT before_error')).command, 'ROLLBACK');
      // the transaction goes on, on the same upstream connection
      assert.equal((await c.query('SELECT txid_current() AS x')).rows[0].x, a.rows[0].x);
      assert.equal((await c.query('RELEASE SAVEPOINT before_error')).command, 'RELEASE');
      assert.equal((await c.query('END')).command, 'COMMIT');
      assert.notEqual((await c.query('SELECT txid_current() AS x')).rows[0].x, a.rows[0].x);
      assert.equal((await c.query('SELECT current_setting($1) AS ro', ['transaction_read_only'])).rows[0].ro, 'off');
    } finally {
      await c.end();
    }
  });

  it('forgets a BEGIN that ABORT ends before any statement, and refuses a savepoint outside a transaction', async () => {
    const c = await connect();
    try {
      assert.equal((await c.query('BEGIN READ ONLY')).command, 'BEGIN');
      assert.equal((await c.query('ABORT')).command, 'ROLLBACK');
      assert.equal((await c.query('SELECT current_setting($1) AS ro', ['transaction_read_only'])).rows[0].ro, 'off');
      await assert.rejects(c.query('SAVEPOINT nowhere'), (e: { code: string; message: string }) => {
        assert.deepEqual([e.code, e.message], ['25P01', 'no transaction is open on this session; savepoints need a statement inside BEGIN first']);
        return true;
      });
      assert.deepEqual((await c.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
    } finally {
      await c.end();
    }
  });

  it('refuses two-phase commit, inside a transaction and outside, and the transaction goes on', async () => {
    const c = await connect();
    try {
      const forbidden = (command: string) => (e: { code: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.match(e.message, new RegExp(`^Airlock refused this statement \\(rule "guardrail:postgres:command:${command.toLowerCase()}"\\): ${command} is not allowed through Airlock: it keeps a transaction`));
        return true;
      };
      assert.equal((await c.query('BEGIN')).command, 'BEGIN');
      const a = await c.query('SELECT txid_current() AS x');
      await assert.rejects(c.query("PREPARE TRANSACTION 'airlock_orphan'"), forbidden('PREPARE TRANSACTION'));
      // refused before it reached the server: the transaction is still open and still the same one
      assert.equal((await c.query('SELECT txid_current() AS x')).rows[0].x, a.rows[0].x);
      assert.equal((await c.query('ROLLBACK')).command, 'ROLLBACK');
      await assert.rejects(c.query("COMMIT PREPARED 'airlock_orphan'"), forbidden('COMMIT PREPARED'));
      await assert.rejects(c.query("ROLLBACK PREPARED 'airlock_orphan'"), forbidden('ROLLBACK PREPARED'));
    } finally {
      await c.end();
    }
  });

  it('records a transaction-control statement that fails upstream as failed, once', async () => {
    const c = await connect();
    try {
      assert.equal((await c.query('BEGIN')).command, 'BEGIN');
      await c.query('SELECT 1 AS one');
      await assert.rejects(c.query('RELEASE SAVEPOINT never_made'), (e: { code: string; message: string }) => {
        assert.deepEqual([e.code, e.message], ['3B001', 'savepoint "never_made" does not exist']);
        return true;
      });
      assert.equal((await c.query('ROLLBACK')).command, 'ROLLBACK');
    } finally {
      await c.end();
    }
    const failed = await eventually(async () => {
      const rows = await t.auditRows(`event_type = 'proxy.v1.query-failed' AND payload->>'sqlState' = '3B001'`);
      return rows.length > 0 ? rows : undefined;
    });
    assert.equal(failed.length, 1);
    assert.deepEqual(
      [failed[0]!.payload.code, failed[0]!.payload.message, failed[0]!.payload.leaseId !== null],
      ['proxy.upstream_error', 'savepoint "never_made" does not exist', true],
    );
    const completed = await t.auditRows(`event_type = 'proxy.v1.query-completed' AND payload->>'requestId' = $1`, [failed[0]!.payload.requestId]);
    assert.equal(completed.length, 0);
  });

  it('keeps the transaction that COMMIT AND CHAIN and ROLLBACK AND CHAIN start, before any statement ran upstream', async () => {
    const c = await connect();
    try {
      assert.equal((await c.query('BEGIN READ ONLY')).command, 'BEGIN');
      assert.equal((await c.query('COMMIT AND CHAIN')).command, 'COMMIT');
      // one transaction, with the characteristics of the one it chains from
      const a = await c.query('SELECT txid_current() AS x, current_setting($1) AS ro', ['transaction_read_only']);
      assert.equal(a.rows[0].ro, 'on');
      assert.equal((await c.query('SELECT txid_current() AS x')).rows[0].x, a.rows[0].x);
      assert.equal((await c.query('ROLLBACK AND CHAIN')).command, 'ROLLBACK');
      const b = await c.query('SELECT txid_current() AS x, current_setting($1) AS ro', ['transaction_read_only']);
      assert.notEqual(b.rows[0].x, a.rows[0].x);
      assert.equal(b.rows[0].ro, 'on');
      assert.equal((await c.query('COMMIT')).command, 'COMMIT');
      assert.equal((await c.query('SELECT current_setting($1) AS ro', ['transaction_read_only'])).rows[0].ro, 'off');
      // with no transaction to chain from, as the server says
      await assert.rejects(c.query('COMMIT AND CHAIN'), (e: { code: string; message: string }) => {
        assert.deepEqual([e.code, e.message], ['25P01', 'COMMIT AND CHAIN can only be used in transaction blocks']);
        return true;
      });
      // a chain kept by the proxy alone: BEGIN, then COMMIT AND CHAIN before any statement
      assert.equal((await c.query('BEGIN')).command, 'BEGIN');
      assert.equal((await c.query('COMMIT AND CHAIN')).command, 'COMMIT');
      assert.equal((await c.query('ROLLBACK')).command, 'ROLLBACK');
      const d = await c.query('SELECT txid_current() AS x');
      assert.notEqual((await c.query('SELECT txid_current() AS x')).rows[0].x, d.rows[0].x);
    } finally {
      await c.end();
    }
  });
});
