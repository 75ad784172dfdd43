// The PostgreSQL engine against a real server: one write per statement, named statements for repeated texts, early
// close, errors; and the masker's pass-through returns exactly what its per-cell path returns, for every type.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import type { MaskingPlan } from '@airlock/contracts';
import { allDetectors, createMasker } from '@airlock/masking';
import { freshDatabase } from '@airlock/testkit';
import { PostgresUpstream } from '../../src/engines/postgres/upstream.js';
import type { UpstreamPortal } from '../../src/engines/engine.js';
import { decodeWireRows, type WireRows } from '../../src/engines/wire-rows.js';
import { WireMasker } from '../../src/core/wire-masker.js';
import * as P from '../../src/frontends/pgwire/protocol.js';

type Row = Array<string | null>;

/** every type the demo and the proxy tests read, a value of each with something a detector would find, then NULLs */
const everyType = `
  SELECT * FROM (VALUES
    ('plain text, ann@example.com'::text, 'card 4111-1111-1111-1111'::varchar(60), 42::int, -9007199254740993::bigint,
     12345.678900::numeric, true, '2024-02-29'::date, '2024-03-02 10:11:12.345678+02'::timestamptz,
     '{"a":[1,"x"],"ssn":"123-45-6789"}'::json, '{"b": 2, "a": "é, ann@example.com"}'::jsonb,
     ARRAY['a','b,c',NULL,'"q"','bob@example.com']::text[], ARRAY[1,2,NULL]::int[], '\\x00ff10'::bytea,
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid),
    (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
  ) AS t(text, varchar, int, bigint, numeric, bool, date, timestamptz, json, jsonb, text_array, int_array, bytea, uuid)`;

/** the same columns, with values that are not ASCII and values a detector finds in the text columns */
const everyTypeMore = everyType.replace(
  '(NULL, NULL,',
  `('héllo wörld, josé@exämple.de 4111 1111 1111 1111'::text, '日本語 😀 (415) 555-2671'::varchar(60), -1::int, 0::bigint, -0.5::numeric, false,
     '1999-12-31'::date, '1999-12-31 23:59:59+00'::timestamptz, '{"é":"ü"}'::json, '[]'::jsonb, ARRAY['ü',NULL]::text[], '{}'::int[], ''::bytea,
     '00000000-0000-0000-0000-000000000000'::uuid),
    ('', 'no digits, no at sign', 0, 1, 0, true, '2000-01-01', '2000-01-01 00:00:00+00', '""', '"x@y.example"', ARRAY['']::text[], ARRAY[NULL]::int[], '\\x'::bytea,
     'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid),
    (NULL, NULL,`,
);

/** Every DataRow message of a result, read in requests of `max` rows. */
async function readAllWire(portal: UpstreamPortal, max = 1000): Promise<WireRows> {
  const parts: Buffer[] = [];
  let count = 0;
  for (;;) {
    const batch = await portal.readWire!(max);
    parts.push(...batch.rows.parts);
    count += batch.rows.count;
    if (batch.done) return { parts, count };
  }
}

async function readAll(portal: UpstreamPortal, max = 1000): Promise<{ rows: Row[]; tag: string | undefined; reads: number }> {
  const rows: Row[] = [];
  for (let reads = 1; ; reads++) {
    const batch = await portal.read(max);
    rows.push(...batch.rows);
    if (batch.done) return { rows, tag: batch.tag, reads };
  }
}

describe('the PostgreSQL engine on a real server', () => {
  let upstream: PostgresUpstream;
  let admin: pg.Client;
  let db: Awaited<ReturnType<typeof freshDatabase>>;

  before(async () => {
    // a database of its own: the tables this file creates never meet another file's
    db = await freshDatabase('airlock_upstream');
    const u = new URL(db.url);
    upstream = await PostgresUpstream.connect(
      { type: 'postgres', host: u.hostname, port: Number(u.port || 5432), database: u.pathname.slice(1) || 'postgres', password: decodeURIComponent(u.password), ssl: false },
      decodeURIComponent(u.username),
      { applicationName: 'airlock-upstream-test', timeoutMs: 30_000 },
    );
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  after(async () => {
    await upstream?.close();
    await admin?.end();
    await db?.drop();
  });

  /** the connection's own prepared statements, as the server lists them */
  const prepared = async (): Promise<string[]> => {
    // this probe is prepared too once it repeats: it leaves itself out
    const portal = await upstream.open("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'airlock\\_%' AND statement NOT LIKE '%pg_prepared_statements%' ORDER BY statement", []);
    return (await readAll(portal)).rows.map((r) => r[0]!);
  };

  it('pass-through equal to masker for every type', async () => {
    const portal = await upstream.open(everyType, []);
    const columns = portal.columns!;
    const { rows } = await readAll(portal);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[1], columns.map(() => null));
    // what the result pipe builds when nothing is masked and the principal may see every column in clear
    const clear: MaskingPlan = { columns: columns.map((c, index) => ({ index, name: c.name, action: null, detect: false })), maskUnlisted: false, detectors: [...allDetectors] };
    const fast = createMasker({ plan: clear, hashKey: 'k', columnCount: columns.length });
    // the same plan, kept on the per-cell path by an action on a column past the result's width
    const slow = createMasker({ plan: { ...clear, columns: [...clear.columns, { index: columns.length, name: 'beyond', action: { kind: 'redact' } }] }, hashKey: 'k', columnCount: columns.length });
    assert.equal(fast.passesThrough, true);
    assert.equal(slow.passesThrough, false);
    const viaFast = rows.map((r) => fast.maskRow(r.slice()));
    const viaSlow = rows.map((r) => slow.maskRow(r.slice()));
    assert.deepEqual(viaFast, viaSlow);
    assert.deepEqual(viaFast, rows);
    assert.ok(P.dataRows(viaFast).equals(P.dataRows(viaSlow)), 'the client receives the same bytes');
    assert.deepEqual(fast.stats, slow.stats);
    // and the text is the server's own: nothing was parsed or re-formatted on the way
    assert.deepEqual(rows[0], [
      'plain text, ann@example.com',
      'card 4111-1111-1111-1111',
      '42',
      '-9007199254740993',
      '12345.678900',
      't',
      '2024-02-29',
      (await admin.query({ text: "SELECT '2024-03-02 10:11:12.345678+02'::timestamptz::text AS t" })).rows[0].t,
      '{"a":[1,"x"],"ssn":"123-45-6789"}',
      '{"a": "é, ann@example.com", "b": 2}',
      '{a,"b,c",NULL,"\\"q\\"",bob@example.com}',
      '{1,2,NULL}',
      '\\x00ff10',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    ]);
  });

  it('the wire path is equal to the masker for every type: each action in the middle of clear columns, NULLs, wider rows', async () => {
    const width = 14;
    const actions = [
      { kind: 'redact' },
      { kind: 'null' },
      { kind: 'partial', keep: 4 },
      { kind: 'partial', keep: 0 },
      { kind: 'email' },
      { kind: 'hash' },
    ] as const;
    const plans: Array<{ name: string; plan: MaskingPlan; columnCount: number }> = [
      // every other column masked, the ones between scanned by the detectors
      ...actions.flatMap((action) =>
        [0, 1].map((offset) => ({
          name: `${action.kind}${'keep' in action ? ` ${action.keep}` : ''} on every other column from ${offset}`,
          plan: {
            columns: Array.from({ length: width }, (_, index) => ({ index, name: `c${index}`, action: index % 2 === offset ? action : null })),
            maskUnlisted: false,
            detectors: [...allDetectors],
          },
          columnCount: width,
        })),
      ),
      // one masked column in the middle, the others clear and not scanned
      {
        name: 'email in the middle of columns exempt from detectors',
        plan: { columns: Array.from({ length: width }, (_, index) => ({ index, name: `c${index}`, action: index === 7 ? ({ kind: 'email' } as const) : null, detect: false })), maskUnlisted: false, detectors: [...allDetectors] },
        columnCount: width,
      },
      { name: 'detectors only', plan: { columns: [], maskUnlisted: false, detectors: [...allDetectors] }, columnCount: width },
      { name: 'nothing masked or scanned', plan: { columns: [], maskUnlisted: false, detectors: [] }, columnCount: width },
      // the result is wider than the masker was told: the cells past it are the unlisted columns'
      { name: 'rows wider than announced, unlisted redacted', plan: { columns: [{ index: 0, name: 'c0', action: null }, { index: 3, name: 'c3', action: { kind: 'partial', keep: 2 } }], maskUnlisted: true, detectors: [...allDetectors] }, columnCount: 5 },
      { name: 'rows wider than announced, unlisted scanned', plan: { columns: [{ index: 0, name: 'c0', action: null, detect: false }], maskUnlisted: false, detectors: [...allDetectors] }, columnCount: 1 },
    ];
    for (const { name, plan, columnCount } of plans) {
      const raw = await readAllWire(await upstream.open(everyTypeMore, []), 2);
      assert.equal(raw.count, 4);
      const rows = decodeWireRows(raw);
      assert.equal(rows[3]!.length, width);
      assert.deepEqual(rows[3], rows[3]!.map(() => null));
      const text = createMasker({ plan, hashKey: 'k', columnCount });
      const bytes = createMasker({ plan, hashKey: 'k', columnCount });
      const want = rows.map((r) => text.maskRow(r.slice()));
      const got = new WireMasker(bytes, columnCount).mask(raw);
      assert.deepEqual(decodeWireRows({ parts: got.parts, count: raw.count }), want, name);
      assert.ok(Buffer.concat(got.parts).equals(P.dataRows(want)), `${name}: the client receives the same bytes`);
      assert.deepEqual(bytes.stats, text.stats, name);
      assert.equal(got.bytes, want.flat().reduce((n, v) => n + (v === null ? 0 : Buffer.byteLength(v)), 0), name);
    }
    // the text ran often enough to be prepared: the tests after this one start with none
    await readAll(await upstream.open('DISCARD ALL', []));
  });

  it('answers a small result in one read, done with its tag', async () => {
    const portal = await upstream.open('SELECT $1::int + 1 AS n, $2::text AS t', ['41', null]);
    assert.deepEqual(portal.columns!.map((c) => c.name), ['n', 't']);
    assert.deepEqual(await portal.read(1000), { rows: [['42', null]], done: true, tag: 'SELECT 1' });
  });

  it('prepares a text on its second run, reuses it after, and prepares again after DISCARD ALL', async () => {
    const text = 'SELECT g AS n FROM generate_series(1, $1::int) g';
    assert.deepEqual(await prepared(), []);
    for (const [i, n] of ['3', '2', '4'].entries()) {
      const portal = await upstream.open(text, [n]);
      assert.deepEqual((await readAll(portal)).rows, Array.from({ length: Number(n) }, (_, k) => [String(k + 1)]), `run ${i + 1}`);
      assert.deepEqual(await prepared(), i === 0 ? [] : [text], `after run ${i + 1}`);
    }
    await readAll(await upstream.open('DISCARD ALL', []));
    assert.deepEqual(await prepared(), []);
    for (let i = 0; i < 2; i++) assert.deepEqual((await readAll(await upstream.open(text, ['1']))).rows, [['1']]);
    assert.deepEqual(await prepared(), [text]);
  });

  it('runs a prepared text again, prepared afresh, after another connection changed its table', async () => {
    await admin.query('DROP TABLE IF EXISTS upstream_shape; CREATE TABLE upstream_shape (a int); INSERT INTO upstream_shape VALUES (1)');
    try {
      const text = 'SELECT * FROM upstream_shape';
      for (let i = 0; i < 2; i++) assert.deepEqual((await readAll(await upstream.open(text, []))).rows, [['1']]);
      assert.ok((await prepared()).includes(text));
      await admin.query("ALTER TABLE upstream_shape ADD COLUMN b text DEFAULT 'x'");
      const portal = await upstream.open(text, []);
      assert.deepEqual(portal.columns!.map((c) => c.name), ['a', 'b']);
      assert.deepEqual((await readAll(portal)).rows, [['1', 'x']]);
      assert.equal(upstream.txStatus, 'I');
      assert.deepEqual((await prepared()).filter((t) => t === text), [text], 'the stale statement was closed, the fresh one kept');
    } finally {
      await admin.query('DROP TABLE upstream_shape');
    }
  });

  it('streams a result larger than one fetch in order, and closes a half-read one leaving its transaction open', async () => {
    const big = await upstream.open('SELECT g FROM generate_series(1, 5000) g', []);
    const all = await readAll(big, 700);
    assert.equal(all.rows.length, 5000);
    assert.ok(all.reads >= 8, 'read in requests of at most 700 rows');
    assert.deepEqual([all.rows[0], all.rows[4999]], [['1'], ['5000']]);
    assert.equal(all.tag, 'SELECT 5000');

    await readAll(await upstream.open('BEGIN', []));
    assert.equal(upstream.txStatus, 'T');
    const half = await upstream.open('SELECT g FROM generate_series(1, 100000) g', []);
    assert.equal((await half.read(10)).rows.length, 10);
    await half.close();
    assert.equal(upstream.txStatus, 'T', 'closing a portal keeps the transaction');
    assert.deepEqual((await readAll(await upstream.open('SELECT 1 AS one', []))).rows, [['1']]);
    await readAll(await upstream.open('ROLLBACK', []));
    assert.equal(upstream.txStatus, 'I');
  });

  it('fetches each batch after the first by size: wide rows come fewer at a time, narrow ones more', async () => {
    // rows of about 4 KB: after a first batch of 1,000 rows, batches of about 256 KB hold some 60 of them
    const wide = await upstream.open("SELECT g, repeat('x', 4000) FROM generate_series(1, 3000) g", []);
    const sizes: number[] = [];
    for (;;) {
      const batch = await wide.readWire!(1_000_000);
      sizes.push(batch.rows.count);
      if (batch.done) break;
    }
    assert.equal(sizes.reduce((a, b) => a + b, 0), 3000);
    assert.equal(sizes[0], 1000);
    // a read waits for the end of a batch and takes what arrived: at most the batch read ahead and the one after it
    assert.ok(sizes.slice(1).every((n) => n <= 2 * 66), `later reads: ${sizes.slice(1).join(', ')}`);
    // narrow rows: batches grow past the first one's 1,000 rows
    const narrow = await upstream.open('SELECT g FROM generate_series(1, 40000) g', []);
    const counts: number[] = [];
    for (;;) {
      const batch = await narrow.readWire!(1_000_000);
      counts.push(batch.rows.count);
      if (batch.done) break;
    }
    assert.equal(counts.reduce((a, b) => a + b, 0), 40000);
    assert.ok(Math.max(...counts.slice(1)) > 1000, `later reads: ${counts.slice(1).join(', ')}`);
  });

  it('answers a read for more rows than a batch holds that comes after the batches read ahead have ended', { timeout: 30_000 }, async () => {
    // rows of about 4 KB: batches of some 60 rows after the first 1,000, and none fetched while two wait unread
    const wide = await upstream.open("SELECT g, repeat('x', 4000) FROM generate_series(1, 2000) g", []);
    let read = (await wide.readWire!(1000)).rows.count;
    assert.equal(read, 1000);
    for (;;) {
      // a slow reader: the batches read ahead end before it asks again, for more rows than they hold
      await new Promise((r) => setTimeout(r, 100));
      const batch = await wide.readWire!(1000);
      read += batch.rows.count;
      if (batch.done) break;
    }
    assert.equal(read, 2000);
  });

  it("reports the server's error with its SQLSTATE while opening and while reading, and stays usable", async () => {
    await assert.rejects(upstream.open('SELECT * FROM no_such_table', []), (e: { code: string }) => e.code === '42P01');
    const failing = await upstream.open("SELECT CASE WHEN g < 3000 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 4000) g", []);
    await assert.rejects(readAll(failing), (e: { code: string }) => e.code === '22012');
    assert.deepEqual((await readAll(await upstream.open('SELECT 2 AS two', []))).rows, [['2']]);
  });

  it('reports a failure at commit of the implicit transaction after the rows, not success', async () => {
    await readAll(await upstream.open('CREATE TEMP TABLE deferred_t (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)', []));
    const portal = await upstream.open('INSERT INTO deferred_t VALUES (1), (1) RETURNING id', []);
    await assert.rejects(readAll(portal), (e: { code: string }) => e.code === '23505');
    assert.equal(upstream.txStatus, 'I');
    assert.deepEqual((await readAll(await upstream.open('SELECT count(*) FROM deferred_t', []))).rows, [['0']]);
  });
});

describe('a read outside a transaction block, asked for whole', () => {
  let upstream: PostgresUpstream;
  let admin: pg.Client;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let relay: net.Server;
  /** what the engine wrote to the server, one count per chunk, and the bytes the server sent back */
  const seen = { writes: 0, bytesBack: 0 };

  before(async () => {
    db = await freshDatabase('airlock_whole');
    const u = new URL(db.url);
    // a relay between the engine and the server that counts what passes: one chunk per write of the engine (a second
    // write can only follow the server's answer, so two writes never arrive as one chunk)
    relay = net.createServer((client) => {
      const server = net.connect(Number(u.port || 5432), u.hostname);
      client.on('data', (chunk) => {
        seen.writes += 1;
        server.write(chunk);
      });
      server.on('data', (chunk) => {
        seen.bytesBack += chunk.length;
        if (!client.write(chunk)) server.pause();
      });
      client.on('drain', () => server.resume());
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    upstream = await PostgresUpstream.connect(
      { type: 'postgres', host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port, database: u.pathname.slice(1) || 'postgres', password: decodeURIComponent(u.password), ssl: false },
      decodeURIComponent(u.username),
      { applicationName: 'airlock-whole-test', timeoutMs: 30_000 },
    );
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  after(async () => {
    await upstream?.close();
    await admin?.end();
    await new Promise((r) => relay?.close(r));
    await db?.drop();
  });

  const read = { read: true };

  it('goes out in one write and comes back in one read, done, with its tag; anything else takes a second write for its Sync', async () => {
    let before = seen.writes;
    const r = await readAll(await upstream.open('SELECT $1::int + 1 AS n', ['41'], read));
    assert.deepEqual([r.rows, r.reads, r.tag], [[['42']], 1, 'SELECT 1']);
    assert.equal(seen.writes - before, 1);
    assert.equal(upstream.txStatus, 'I');

    before = seen.writes;
    const w = await readAll(await upstream.open('SELECT $1::int + 1 AS n', ['41']));
    assert.deepEqual(w.rows, [['42']]);
    assert.equal(seen.writes - before, 2, 'not a read: Execute, then Sync once the rows are in');
  });

  it('streams a large result in order while the server waits on its socket for a reader that does not read', { timeout: 60_000 }, async () => {
    const rows = 3_000_000;
    const bytesBefore = seen.bytesBack;
    const portal = await upstream.open(`SELECT g, repeat('x', 100) FROM generate_series(1, ${rows}) g`, [], read);
    const first = await portal.readWire!(1000);
    assert.equal(first.rows.count, 1000);
    // the reader stops: the server ends up blocked writing to its client, the result mostly still unsent
    const backend = async () =>
      (await admin.query<{ wait_event: string | null }>("SELECT wait_event FROM pg_stat_activity WHERE application_name = 'airlock-whole-test'")).rows[0]?.wait_event;
    const deadline = Date.now() + 20_000;
    while ((await backend()) !== 'ClientWrite') {
      assert.ok(Date.now() < deadline, 'the server never waited on its socket');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const sent = seen.bytesBack - bytesBefore;
    // about 350 MB in all: what left the server is the proxy's two batches and the sockets' buffers, not the result
    assert.ok(sent < 60 * 1024 * 1024, `${sent} bytes left the server for a reader that read 1,000 rows`);
    // reading on gets every row, in order
    let count = first.rows.count;
    let last = '';
    for (;;) {
      const batch = await portal.read(50_000);
      count += batch.rows.length;
      if (batch.rows.length > 0) last = batch.rows[batch.rows.length - 1]![0]!;
      if (batch.done) {
        assert.equal(batch.tag, `SELECT ${rows}`);
        break;
      }
    }
    assert.deepEqual([count, last], [rows, String(rows)]);
  });

  it("stops early by a cancel, drained, and the cancel never reaches the connection's next statement", { timeout: 60_000 }, async () => {
    for (let i = 0; i < 8; i++) {
      const portal = await upstream.open('SELECT g FROM generate_series(1, 2000000) g', [], read);
      assert.equal((await portal.read(10)).rows.length, 10);
      await portal.close();
      assert.equal(upstream.txStatus, 'I');
      // at once, a statement that runs a while: a cancel that came late would end it with 57014
      const next = await readAll(await upstream.open('SELECT count(*) FROM generate_series(1, 400000)', [], read));
      assert.deepEqual(next.rows, [['400000']]);
    }
    // a result that arrived whole before the close needs no cancel, and still ends cleanly
    const small = await upstream.open('SELECT g FROM generate_series(1, 5) g', [], read);
    assert.equal((await small.read(2)).rows.length, 2);
    await small.close();
    assert.deepEqual((await readAll(await upstream.open('SELECT 7 AS seven', [], read))).rows, [['7']]);
  });

  it('inside a transaction block a read is fetched a batch at a time: stopping early keeps the transaction', async () => {
    await readAll(await upstream.open('BEGIN', []));
    const before = seen.writes;
    const half = await upstream.open('SELECT g FROM generate_series(1, 100000) g', [], read);
    assert.equal((await half.read(10)).rows.length, 10);
    await half.close();
    assert.equal(upstream.txStatus, 'T', 'no cancel: the transaction is still open and healthy');
    assert.ok(seen.writes - before >= 2, 'the Sync went out only on close');
    assert.deepEqual((await readAll(await upstream.open('SELECT 1 AS one', [], read))).rows, [['1']]);
    await readAll(await upstream.open('ROLLBACK', []));
    assert.equal(upstream.txStatus, 'I');
  });

  it("reports an error in the middle of a whole result with its SQLSTATE, and stays usable", async () => {
    const failing = await upstream.open('SELECT CASE WHEN g < 3000 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 4000) g', [], read);
    await assert.rejects(readAll(failing), (e: { code: string }) => e.code === '22012');
    assert.equal(upstream.txStatus, 'I');
    assert.deepEqual((await readAll(await upstream.open('SELECT 2 AS two', [], read))).rows, [['2']]);
  });
});
