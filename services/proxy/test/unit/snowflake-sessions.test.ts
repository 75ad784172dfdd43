import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AirlockError } from '@airlock/runtime';
import type { ActiveStatement, OpenHooks } from '../../src/core/session.js';
import { LoginSessions, bearerToken, snowflakeToken } from '../../src/frontends/snowflake/login-sessions.js';
import { Mutex, StatementRun, type StatementSession } from '../../src/frontends/snowflake/statement-run.js';

const principal = { subject: 'agent-1', issuer: 'https://issuer', groups: ['analysts'] };
const info = { databaseName: 'DEMO', schemaName: 'PUBLIC', warehouseName: null, roleName: null };

function fakeSession(id = 's1'): StatementSession & { closed: string[] } {
  const s = {
    id,
    closed: [] as string[],
    open: async () => {
      throw new Error('not used');
    },
    cancel: async () => undefined,
    close: async (reason: string) => void s.closed.push(reason),
  };
  return s;
}

describe('login sessions', () => {
  test('tokens resolve to their session until they expire; the master token renews them', () => {
    let now = 1_000_000;
    const logins = new LoginSessions({ tokenSeconds: 60, masterSeconds: 600, idleSeconds: 120 }, () => now);
    const login = logins.create({ session: fakeSession(), connection: 'warehouse', principal, credential: 'oidc-token', sessionInfo: info, notAfter: Number.MAX_SAFE_INTEGER });
    assert.match(login.token, /^airlock-ST-[A-Za-z0-9_-]{43}$/);
    assert.match(login.masterToken, /^airlock-MT-[A-Za-z0-9_-]{43}$/);
    assert.notEqual(login.token, login.masterToken);
    assert.equal(logins.resolve(login.token), login);
    assert.equal((logins.resolve('nope') as { code: string }).code, '390104');
    assert.equal((logins.resolve(null) as { code: string }).code, '390104');
    assert.equal((logins.resolve(login.masterToken) as { code: string }).code, '390104', 'the master token is not a session token');
    now += 61_000;
    const old = login.token;
    assert.equal((logins.resolve(old) as { code: string }).code, '390112', 'expired: the driver renews');
    assert.equal((logins.renew(login.masterToken, 'some other token') as { code: string }).code, '390104');
    const renewed = logins.renew(login.masterToken, old);
    assert.equal(renewed, login);
    assert.notEqual(login.token, old);
    assert.equal(logins.resolve(login.token), login);
    assert.equal((logins.resolve(old) as { code: string }).code, '390104', 'the old token stops working');
    now += 601_000;
    assert.equal((logins.renew(login.masterToken, login.token) as { code: string }).code, '390114');
  });

  test('no token of a login outlives the OIDC token it logged in with, nor the master maximum, however often it renews', () => {
    let now = 0;
    const logins = new LoginSessions({ tokenSeconds: 60, masterSeconds: 600, idleSeconds: 120 }, () => now);
    // the OIDC token expires 150 s after login
    const login = logins.create({ session: fakeSession(), connection: 'warehouse', principal, credential: 'oidc-token', sessionInfo: info, notAfter: 150_000 });
    assert.deepEqual([login.tokenExpiresAt, login.masterExpiresAt], [60_000, 150_000]);
    for (const at of [59_000, 118_000]) {
      now = at;
      assert.equal(logins.renew(login.masterToken, login.token), login);
      assert.equal(login.masterExpiresAt, 150_000, 'renewal never moves the master expiry');
    }
    assert.equal(login.tokenExpiresAt, 150_000, 'the session token stops at the OIDC token expiry, not 60 s after renewal');
    now = 150_000;
    assert.equal((logins.resolve(login.token) as { code: string }).code, '390112');
    assert.equal((logins.renew(login.masterToken, login.token) as { code: string }).code, '390114');
    assert.deepEqual(logins.takeIdle(), [], 'an expired login is not idle: it is ended once by takeExpired');
    assert.deepEqual(logins.takeExpired(), [login]);
    assert.deepEqual(logins.takeExpired(), [], 'ended once');
    // it keeps answering "expired" (not "unknown") for the idle limit, so the driver says why it must log in again
    now = 150_000 + 120_000;
    assert.equal((logins.renew(login.masterToken, login.token) as { code: string }).code, '390114');
    now += 1;
    assert.deepEqual(logins.takeExpired(), []);
    assert.equal(logins.size, 0);

    // without an earlier OIDC expiry, the configured maximum holds: 600 s after login, renewals or not
    now = 0;
    const long = logins.create({ session: fakeSession('b'), connection: 'warehouse', principal, credential: 'oidc-token', sessionInfo: info, notAfter: 86_400_000 });
    for (let at = 50_000; at < 600_000; at += 50_000) {
      now = at;
      assert.equal(logins.renew(long.masterToken, long.token), long);
    }
    assert.equal(long.masterExpiresAt, 600_000);
    now = 600_000;
    assert.equal((logins.renew(long.masterToken, long.token) as { code: string }).code, '390114');
  });

  test('idle sessions are taken, busy ones are not', () => {
    let now = 0;
    const logins = new LoginSessions({ tokenSeconds: 60, masterSeconds: 600, idleSeconds: 10 }, () => now);
    const idle = logins.create({ session: fakeSession('a'), connection: 'warehouse', principal, credential: 'oidc-token', sessionInfo: info, notAfter: Number.MAX_SAFE_INTEGER });
    const busy = logins.create({ session: fakeSession('b'), connection: 'warehouse', principal, credential: 'oidc-token', sessionInfo: info, notAfter: Number.MAX_SAFE_INTEGER });
    busy.active = 1;
    now = 5_000;
    assert.deepEqual(logins.takeIdle(), []);
    now = 11_000;
    assert.deepEqual(logins.takeIdle(), [idle]);
    assert.equal(logins.size, 1);
    assert.equal((logins.resolve(idle.token) as { code: string }).code, '390104');
    assert.deepEqual(logins.takeAll(), [busy]);
    assert.equal(logins.size, 0);
  });

  test('authorization headers', () => {
    assert.equal(snowflakeToken('Snowflake Token="abc.def"'), 'abc.def');
    assert.equal(snowflakeToken('Snowflake Token=""'), null);
    assert.equal(snowflakeToken('Bearer abc'), null);
    assert.equal(snowflakeToken(undefined), null);
    assert.equal(bearerToken('Bearer eyJ.x.y'), 'eyJ.x.y');
    assert.equal(bearerToken('bearer eyJ.x.y '), 'eyJ.x.y');
    assert.equal(bearerToken('Snowflake Token="x"'), null);
  });
});

/** A statement whose open resolves or rejects when the test says so. */
function controlled(): {
  session: StatementSession;
  hooks: () => OpenHooks | undefined;
  resolve(active: ActiveStatement): void;
  reject(err: unknown): void;
  cancels: number;
} {
  let hooks: OpenHooks | undefined;
  let resolve!: (a: ActiveStatement) => void;
  let reject!: (e: unknown) => void;
  const c = {
    session: {
      id: 's',
      open: (_sql: string, _params: Array<string | null>, h?: OpenHooks) => {
        hooks = h;
        return new Promise<ActiveStatement>((res, rej) => {
          resolve = res;
          reject = rej;
        });
      },
      cancel: async () => {
        c.cancels += 1;
      },
      close: async () => undefined,
    },
    hooks: () => hooks,
    resolve: (a: ActiveStatement) => resolve(a),
    reject: (e: unknown) => reject(e),
    cancels: 0,
  };
  return c;
}

function active(rows: string[][], closed: { n: number } = { n: 0 }): ActiveStatement {
  return {
    requestId: 'r',
    columns: [{ name: 'ID', textual: false }],
    read: async () => ({ rows, done: true, tag: `SELECT ${rows.length}` }),
    close: async () => void (closed.n += 1),
    fail: () => ({ code: 'runtime.internal', sqlState: 'XX000', message: 'x' }),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('statement runs', () => {
  test('answers in progress after the wait, then the result once', async () => {
    const c = controlled();
    const ended: string[] = [];
    const run = new StatementRun({ session: c.session, lock: new Mutex(), sql: 'select 1', params: [], batchRows: 10, holdMs: 1000, clientRequestId: 'req', onEnd: (r) => ended.push(r.state) });
    const started = Date.now();
    await run.wait(50, true);
    assert.ok(Date.now() - started >= 45);
    assert.equal(run.take(), null);
    assert.equal(run.status, 'RUNNING');
    assert.equal(c.hooks()?.holdMs, 1000);
    c.resolve(active([['1']]));
    await run.wait(1000, false);
    assert.equal(run.state, 'ready');
    const taken = run.take();
    assert.ok(taken && 'source' in taken);
    assert.deepEqual(taken.source.first.rows, [['1']]);
    const again = run.take();
    assert.ok(again && 'failure' in again);
    assert.equal(again.failure.code, '000709');
    await taken.end({ kind: 'succeeded', rows: 1 });
    assert.equal(run.status, 'SUCCESS');
    assert.deepEqual(ended, ['succeeded']);
  });

  test('a hold wakes the first wait at once and shows as QUEUED', async () => {
    const c = controlled();
    const run = new StatementRun({ session: c.session, lock: new Mutex(), sql: 'update', params: [], batchRows: 10, holdMs: 1000, clientRequestId: null });
    await tick();
    const waiting = run.wait(10_000, true);
    c.hooks()?.onHold?.('ap-1', 'held for dba');
    await waiting;
    assert.equal(run.status, 'QUEUED');
    assert.deepEqual(run.hold, { approvalId: 'ap-1', message: 'held for dba' });
    // polling while held waits for the outcome, not for another hold
    const poll = run.wait(10_000, false);
    c.reject(new AirlockError('approval.denied', 'an approver denied this statement (request ap-1): not today'));
    await poll;
    const taken = run.take();
    assert.ok(taken && 'failure' in taken);
    assert.equal(taken.failure.code, '003001');
    assert.equal(taken.failure.message, 'an approver denied this statement (request ap-1): not today');
    assert.equal(run.status, 'FAILED_WITH_ERROR');
  });

  test('cancelling a held statement answers canceled and closes what arrives later', async () => {
    const c = controlled();
    const run = new StatementRun({ session: c.session, lock: new Mutex(), sql: 'update', params: [], batchRows: 10, holdMs: 1000, clientRequestId: null });
    await tick();
    c.hooks()?.onHold?.('ap-2', 'held');
    assert.equal(await run.cancel(), true);
    assert.equal(c.cancels, 1, 'the session is asked to cancel what it runs');
    const taken = run.take();
    assert.ok(taken && 'failure' in taken);
    assert.equal(taken.failure.code, '000604');
    const closed = { n: 0 };
    c.resolve(active([['1']], closed));
    await run.settled;
    assert.equal(closed.n, 1);
    assert.equal(run.status, 'ABORTED');
    assert.equal(await run.cancel(), false);
  });

  test('statements of one session run one after another', async () => {
    const lock = new Mutex();
    const first = controlled();
    const second = controlled();
    const a = new StatementRun({ session: first.session, lock, sql: 'a', params: [], batchRows: 10, holdMs: 1000, clientRequestId: null });
    const b = new StatementRun({ session: second.session, lock, sql: 'b', params: [], batchRows: 10, holdMs: 1000, clientRequestId: null });
    await tick();
    assert.ok(first.hooks(), 'the first statement opened');
    assert.equal(second.hooks(), undefined, 'the second waits for the first');
    assert.equal(await b.cancel(), true);
    assert.equal(second.cancels, 0, 'a statement that never opened does not cancel the one that runs');
    first.resolve(active([['1']]));
    await a.wait(1000, false);
    const taken = a.take();
    assert.ok(taken && 'source' in taken);
    await taken.end({ kind: 'succeeded', rows: 1 });
    await b.settled;
    assert.equal(second.hooks(), undefined, 'the cancelled statement never opened');
  });

  test('a result nobody fetches expires and is closed', async () => {
    const c = controlled();
    const closed = { n: 0 };
    const run = new StatementRun({ session: c.session, lock: new Mutex(), sql: 'select', params: [], batchRows: 10, holdMs: 1000, clientRequestId: null });
    await tick();
    c.resolve(active([['1']], closed));
    await run.settled;
    assert.equal(await run.expireIfStale(Date.now(), 60_000), false);
    assert.equal(await run.expireIfStale(Date.now() + 61_000, 60_000), true);
    assert.equal(closed.n, 1);
    assert.equal(run.status, 'ABORTED');
  });
});
