// The result pipe reading PostgreSQL rows as DataRow bytes: the same masked rows, counts and recording as reading them
// as text, the same row limit, and the last batch still held back until its audit record is stored.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { policyV1 } from '@airlock/contracts';
import { allDetectors } from '@airlock/masking';
import { Tracing, newContext } from '@airlock/runtime';
import { ResultPipe, type Run } from '../../src/core/result-pipe.js';
import type { ResultRecord, SessionAudit } from '../../src/core/audit.js';
import type { ColumnInfo, UpstreamPortal } from '../../src/engines/engine.js';
import { decodeWireRows } from '../../src/engines/wire-rows.js';
import * as P from '../../src/frontends/pgwire/protocol.js';

type Row = Array<string | null>;

const names = ['id', 'name', 'email', 'card', 'notes'];
const columns: ColumnInfo[] = names.map((name, i) => ({
  name,
  textual: i !== 0,
  pg: { name, tableOid: 1, columnAttr: i + 1, typeOid: i === 0 ? 23 : 25, typeSize: -1, typeModifier: -1 },
}));
const rows: Row[] = Array.from({ length: 12 }, (_, i) => [
  String(i + 1),
  i % 3 === 0 ? `Zoë ${i}` : `Ann ${i}`,
  i % 4 === 0 ? null : `ann${i}@example.com`,
  `4111 1111 1111 ${String(1000 + i)}`,
  i % 2 === 0 ? `paid with 4111 1111 1111 1111, mail bob${i}@example.org` : 'nothing to see',
]);

const decision = (maxRows: number) =>
  ({
    masking: {
      columns: [
        { index: 0, name: 'id', action: null },
        { index: 1, name: 'name', action: null },
        { index: 2, name: 'email', action: { kind: 'email' } },
        { index: 3, name: 'card', action: { kind: 'partial', keep: 4 } },
        { index: 4, name: 'notes', action: null },
      ],
      maskUnlisted: false,
      detectors: [...allDetectors],
    },
    limits: { maxRows, timeoutMs: 30_000 },
  }) as unknown as policyV1.Decision;

/** A portal over fixed rows, read as text or as DataRow messages, in batches of at most 5. */
function portal(): UpstreamPortal & { closed: boolean } {
  let at = 0;
  const take = (max: number) => {
    const batch = rows.slice(at, at + Math.min(max, 5)).map((r) => r.slice());
    at += batch.length;
    return { batch, done: at >= rows.length, tag: at >= rows.length ? `SELECT ${rows.length}` : undefined };
  };
  const p = {
    closed: false,
    columns,
    read: async (max: number) => {
      const { batch, done, tag } = take(max);
      return { rows: batch, done, tag };
    },
    readWire: async (max: number) => {
      const { batch, done, tag } = take(max);
      return { rows: { parts: [P.dataRows(batch)], count: batch.length }, done, tag };
    },
    close: async () => {
      p.closed = true;
    },
  };
  return p;
}

function pipe(stored: () => Promise<void> = async () => undefined) {
  const results: ResultRecord[] = [];
  const failures: string[] = [];
  /** batches that reached the front door before their statement's end */
  const rowsSent: string[] = [];
  const audit = {
    onRowsSent: (id: string) => void rowsSent.push(id),
    onResult: (_id: string, record: ResultRecord) => {
      results.push(record);
      return stored();
    },
    onQueryFailed: async (_id: string, _lease: string | null, e: { code: string }) => {
      failures.push(e.code);
    },
  } as unknown as SessionAudit;
  const p = new ResultPipe({ tracing: new Tracing('test'), metrics: undefined, hashKey: 'k', connection: 'demo', recording: { rows: 4, bytes: 150 }, audit });
  const run = (): Run => ({ requestId: 'r1', ctx: newContext('r1'), started: performance.now(), leaseId: null });
  const ends = { ended: () => undefined, release: async () => undefined };
  return { p, run, ends, results, failures, rowsSent };
}

const readText = async (maxRows: number) => {
  const t = pipe();
  const active = t.p.stream(t.run(), portal(), decision(maxRows), t.ends);
  const out: Row[] = [];
  for (;;) {
    const b = await active.read(3);
    out.push(...b.rows);
    if (b.done) return { out, ...t };
  }
};

const readWire = async (maxRows: number, stored?: () => Promise<void>) => {
  const t = pipe(stored);
  const source = portal();
  const active = t.p.stream(t.run(), source, decision(maxRows), t.ends);
  const out: Row[] = [];
  for (;;) {
    const b = await active.readWire!(3);
    out.push(...decodeWireRows({ parts: b.parts, count: b.count }));
    if (b.done) return { out, source, ...t };
  }
};

describe('the result pipe on DataRow bytes', () => {
  it('sends, counts and records what the text path does', async () => {
    const text = await readText(100);
    const wire = await readWire(100);
    assert.equal(wire.out.length, rows.length);
    assert.deepEqual(wire.out, text.out);
    assert.notDeepEqual(wire.out, rows, 'something was masked');
    assert.equal(wire.results.length, 1);
    assert.deepEqual(wire.results[0]!.result, text.results[0]!.result);
    assert.equal(wire.results[0]!.result!.truncated, true);
    assert.ok(wire.results[0]!.result!.rows.length > 0 && wire.results[0]!.result!.rows.length <= 4);
    const { durationMs: _a, ...w } = wire.results[0]!;
    const { durationMs: _b, ...t } = text.results[0]!;
    assert.deepEqual(w, t);
    assert.equal(w.rows, rows.length);
    assert.equal(w.bytes, text.out.flat().reduce((n, v) => n + (v === null ? 0 : Buffer.byteLength(v)), 0));
    // every batch before the last reached the front door ahead of the statement's end: each says so to the audit
    // (which writes a held start record before those rows), on both paths alike
    const batches = Math.ceil(rows.length / 3);
    assert.equal(wire.rowsSent.length, batches - 1);
    assert.deepEqual(wire.rowsSent, text.rowsSent);
  });

  it('stops at the row limit: the statement fails, its portal is closed, nothing is recorded complete', async () => {
    await assert.rejects(readWire(7), (e: { code: string }) => e.code === 'proxy.row_limit');
    const t = pipe();
    const source = portal();
    const active = t.p.stream(t.run(), source, decision(7), t.ends);
    let read = 0;
    await assert.rejects(async () => {
      for (;;) {
        const b = await active.readWire!(3);
        read += b.count;
        if (b.done) break;
      }
    }, /more than 7 rows/);
    assert.ok(read <= 7, `${read} rows reached the client`);
    assert.equal(source.closed, true);
    assert.deepEqual(t.failures, ['proxy.row_limit']);
    assert.deepEqual(t.results, []);
  });

  it("holds the last batch until the statement's record is stored, and refuses it when the record cannot be", async () => {
    let store!: () => void;
    const stored = new Promise<void>((r) => (store = r));
    let finished = false;
    const pending = readWire(100, () => stored).then((r) => {
      finished = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(finished, false, 'the last batch waits for the record');
    store();
    assert.equal((await pending).out.length, rows.length);
    await assert.rejects(
      readWire(100, () => Promise.reject(new Error('stream unreachable'))),
      (e: { code: string }) => e.code === 'runtime.unavailable',
    );
  });
});
