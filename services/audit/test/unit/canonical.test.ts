import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { canonicalJson, chainHash, chainHashOfCanonical } from '../../src/canonical.js';

/** The encoding as first specified: entries filtered, sorted with `<`, joined. Appends and verification must agree with it. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

const payloads: unknown[] = [
  {},
  [],
  null,
  'text',
  0,
  -1.5e-7,
  { b: 1, a: 2, A: 3, _: 4, '10': 5, '9': 6, 'é': 7, 'e\u0301': 8, '😀': 9, 'ﬀ': 10 },
  { nested: { z: [1, { y: 'x', x: null }], a: undefined, u: [undefined, 2] }, quote: 'a "b" \\ c\n\u0000' },
  { id: '0b6f0c9e-6a0e-4f7c-9a51-3f7c2d9c1e11', time: '2026-12-05T18:00:00.000Z', result: { columns: ['id'], rows: [['1']], truncated: false }, rows: 1, durationMs: 0.42 },
  { date: new Date(0), big: Number.MAX_SAFE_INTEGER, neg: -0, nan: Number.NaN, inf: Number.POSITIVE_INFINITY, t: true, f: false },
];

describe('canonical JSON and the chain hash', () => {
  it('encodes every value exactly as the first specification did', () => {
    for (const p of payloads) assert.equal(canonicalJson(p), reference(p), JSON.stringify(p));
  });

  it('hashes a canonical payload to the same link as the record it came from, in every partition', () => {
    const key = randomBytes(32);
    for (const [i, p] of payloads.entries()) {
      for (const partition of [1, 2, 17]) {
        const record = { seq: 1000 + i, eventId: '3f1e2d4c-0000-4000-8000-00000000000' + (i % 10), subject: 'airlock.evt.proxy.v1.query-completed', payload: p, partition };
        assert.equal(chainHashOfCanonical(key, 'f'.repeat(64), record.seq, partition, record.eventId, record.subject, canonicalJson(p)), chainHash(key, 'f'.repeat(64), record));
      }
    }
  });

  it('hashes partition 1 as the single chain did, and binds every other partition into its links', () => {
    const key = randomBytes(32);
    const record = { seq: 7, eventId: 'e', subject: 's', payload: { a: 1 } };
    const single = createHmac('sha256', key).update('p').update('\n').update(reference({ seq: 7, eventId: 'e', subject: 's', payload: { a: 1 } })).digest('hex');
    assert.equal(chainHash(key, 'p', record), single);
    assert.equal(chainHash(key, 'p', { ...record, partition: 1 }), single);
    const second = chainHash(key, 'p', { ...record, partition: 2 });
    assert.notEqual(second, single);
    assert.equal(second, createHmac('sha256', key).update('p').update('\n').update(reference({ seq: 7, partition: 2, eventId: 'e', subject: 's', payload: { a: 1 } })).digest('hex'));
    assert.notEqual(chainHash(key, 'p', { ...record, partition: 3 }), second);
  });
});
