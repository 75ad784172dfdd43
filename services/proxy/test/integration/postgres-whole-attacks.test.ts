// Attacks on a read's whole result (Execute with no row limit and Sync in the first write, cancelled when stopped
// early): a cancel must never reach the connection's next statement, a close must end in bounded time, a paused
// socket must never be left paused. (A read that calls a writing function is not asked for whole: see
// test/e2e/whole-read-attacks.test.ts.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { freshDatabase } from '@airlock/testkit';
import { PostgresUpstream } from '../../src/engines/postgres/upstream.js';
import type { UpstreamPortal } from '../../src/engines/engine.js';

type Row = Array<string | null>;

async function readAll(portal: UpstreamPortal, max = 1000): Promise<{ rows: Row[]; tag: string | undefined }> {
  const rows: Row[] = [];
  for (;;) {
    const batch = await portal.read(max);
    rows.push(...batch.rows);
    if (batch.done) return { rows, tag: batch.tag };
  }
}

const read = { read: true } as never;

function grantOf(url: string, port?: number) {
  const u = new URL(url);
  return {
    grant: { type: 'postgres' as const, host: u.hostname, port: port ?? Number(u.port || 5432), database: u.pathname.slice(1) || 'postgres', password: decodeURIComponent(u.password), ssl: false },
    user: decodeURIComponent(u.username),
  };
}

describe('attacks on a whole read', () => {
  let upstream: PostgresUpstream;
  let admin: pg.Client;
  let db: Awaited<ReturnType<typeof freshDatabase>>;

  before(async () => {
    db = await freshDatabase('airlock_whole_attacks');
    const { grant, user } = grantOf(db.url);
    upstream = await PostgresUpstream.connect(grant, user, { applicationName: 'airlock-whole-attacks', timeoutMs: 60_000 });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`
      CREATE TABLE touched (g int);
      CREATE FUNCTION touch(g int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO touched VALUES (g); RETURN g; END $$;
    `);
  });
  after(async () => {
    await upstream?.close();
    await admin?.end();
    await db?.drop();
  });

  it('never lets the cancel of an early close reach the next statement, whatever the point of the close', { timeout: 120_000 }, async () => {
    // sizes that end before the cancel arrives, around it, and long after; closes with nothing, some or most rows read
    const sizes = [3, 500, 5_000, 50_000, 2_000_000];
    const takes = [0, 1, 400, 4_000];
    let n = 0;
    for (let round = 0; round < 4; round++) {
      for (const size of sizes) {
        for (const take of takes) {
          n++;
          const portal = await upstream.open(`SELECT g, repeat('y', 40) FROM generate_series(1, ${size}) g /* ${n} */`, [], read);
          if (take > 0) await portal.read(take);
          await portal.close();
          assert.equal(upstream.txStatus, 'I');
          // a statement that runs a little while, at once: a late cancel would end it with 57014
          const next = await readAll(await upstream.open(`SELECT count(*) FROM generate_series(1, 200000) /* next ${n} */`, [], read));
          assert.deepEqual(next.rows, [['200000']], `after size ${size}, take ${take}`);
          // and a write, fetched a batch at a time, which a late cancel would roll back
          const w = await readAll(await upstream.open(`SELECT ${n} AS n, pg_sleep(0.001)`, []));
          assert.equal(w.rows[0]![0], String(n));
        }
      }
    }
  });

  it('closes twice at once and the connection stays usable', { timeout: 30_000 }, async () => {
    const portal = await upstream.open('SELECT g FROM generate_series(1, 3000000) g', [], read);
    await portal.read(10);
    await Promise.all([portal.close(), portal.close()]);
    assert.deepEqual((await readAll(await upstream.open('SELECT 1 AS one', [], read))).rows, [['1']]);
  });

  it('closes a result whose error arrives while its socket is paused', { timeout: 60_000 }, async () => {
    const portal = await upstream.open(
      `SELECT CASE WHEN g < 200000 THEN repeat('z', 200) ELSE (1 / (g - g))::text END FROM generate_series(1, 300000) g`,
      [],
      read,
    );
    await portal.read(1);
    // long enough for the server to fill the proxy's buffer and the sockets
    await new Promise((r) => setTimeout(r, 300));
    await portal.close();
    assert.equal(upstream.txStatus, 'I');
    assert.deepEqual((await readAll(await upstream.open('SELECT 3 AS three', [], read))).rows, [['3']]);
  });

  it('leaves no socket paused: a statement after a paused then completed read gets its rows', { timeout: 60_000 }, async () => {
    const portal = await upstream.open(`SELECT g, repeat('p', 500) FROM generate_series(1, 20000) g`, [], read);
    await portal.read(1);
    await new Promise((r) => setTimeout(r, 300));
    let count = 1;
    for (;;) {
      const b = await portal.read(7);
      count += b.rows.length;
      if (b.done) break;
    }
    assert.equal(count, 20000);
    // a write (batches, no whole) and a read after it
    assert.equal((await readAll(await upstream.open(`SELECT g FROM generate_series(1, 3000) g`, []))).rows.length, 3000);
    assert.equal((await readAll(await upstream.open(`SELECT g, repeat('q', 900) FROM generate_series(1, 3000) g`, [], read))).rows.length, 3000);
  });

  it('runs a named statement again, prepared afresh, when its table changed shape, as a whole read', { timeout: 30_000 }, async () => {
    await admin.query('CREATE TABLE shape (a int, b text); INSERT INTO shape SELECT g, g::text FROM generate_series(1, 3000) g');
    const sql = 'SELECT * FROM shape ORDER BY a';
    for (let i = 0; i < 3; i++) assert.equal((await readAll(await upstream.open(sql, [], read))).rows.length, 3000);
    await admin.query('ALTER TABLE shape ALTER COLUMN b TYPE int USING b::int');
    const r = await readAll(await upstream.open(sql, [], read));
    assert.deepEqual([r.rows.length, r.rows[2999]], [3000, ['3000', '3000']]);
    assert.equal(upstream.txStatus, 'I');
    assert.deepEqual((await readAll(await upstream.open('SELECT 4 AS four', [], read))).rows, [['4']]);
  });

  it('stops early in a result of rows larger than its buffer, and the connection stays usable', { timeout: 60_000 }, async () => {
    const portal = await upstream.open(`SELECT g, repeat('w', 8000000) FROM generate_series(1, 40) g`, [], read);
    const first = await portal.read(1);
    assert.equal(first.rows[0]![1]!.length, 8_000_000);
    await new Promise((r) => setTimeout(r, 200));
    await portal.close();
    assert.equal(upstream.txStatus, 'I');
    const all = await readAll(await upstream.open(`SELECT g, repeat('v', 3000000) FROM generate_series(1, 6) g`, [], read), 1);
    assert.deepEqual(all.rows.map((r) => [r[0], r[1]!.length]), [1, 2, 3, 4, 5, 6].map((g) => [String(g), 3_000_000]));
  });
});

describe('a whole read whose cancel cannot be delivered', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let relay: net.Server;
  let accepted = 0;

  before(async () => {
    db = await freshDatabase('airlock_whole_nocancel');
    const u = new URL(db.url);
    // a relay that carries the first connection (the statement's) and resets every later one (the cancel's), as a
    // load balancer or connection limit in front of the server may
    relay = net.createServer((client) => {
      accepted++;
      if (accepted > 1) {
        client.resetAndDestroy();
        return;
      }
      const server = net.connect(Number(u.port || 5432), u.hostname);
      client.pipe(server);
      server.pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await new Promise((r) => relay?.close(r));
    await db?.drop();
  });

  it('still ends an early close in bounded time, giving the connection up instead of draining the result', { timeout: 60_000 }, async () => {
    const { grant, user } = grantOf(db.url, (relay.address() as net.AddressInfo).port);
    const upstream = await PostgresUpstream.connect(grant, user, { applicationName: 'airlock-whole-nocancel', timeoutMs: 0 });
    try {
      // a result of some 100 GB: draining it would take many minutes
      const portal = await upstream.open(`SELECT generate_series(1, 1000000000) AS g, repeat('x', 100)`, [], read);
      await portal.read(10);
      const started = Date.now();
      const closed = await Promise.race([portal.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still draining'), 15_000))]);
      assert.equal(closed, 'closed', `close() had not resolved after ${Date.now() - started} ms: the whole result is being drained`);
      // the connection is closed at once, so that the session's next statement takes a fresh one (and its lease)
      assert.equal(upstream.closed, true);
    } finally {
      await upstream.close();
    }
  });
});
