// The byte path of the masker: maskUtf8 on a value's UTF-8 bytes gives exactly what maskCell gives on its text, and
// counts the same, for every action and for detector scans; where it cannot be exact it says so (AS_TEXT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaskingPlan } from '@airlock/contracts';
import { AS_TEXT, UNCHANGED, allDetectors, createMasker, detect, type Masker } from '../src/index.js';
import { mayHoldFinding } from '../src/scanner.js';

/** One column per treatment: clear with detectors, each action, clear exempt from detectors. */
const plan: MaskingPlan = {
  columns: [
    { index: 0, name: 'clear', action: null },
    { index: 1, name: 'partial4', action: { kind: 'partial', keep: 4 } },
    { index: 2, name: 'partial0', action: { kind: 'partial', keep: 0 } },
    { index: 3, name: 'partial20', action: { kind: 'partial', keep: 20 } },
    { index: 4, name: 'email', action: { kind: 'email' } },
    { index: 5, name: 'hash', action: { kind: 'hash' } },
    { index: 6, name: 'redact', action: { kind: 'redact' } },
    { index: 7, name: 'null', action: { kind: 'null' } },
    { index: 8, name: 'exempt', action: null, detect: false },
  ],
  maskUnlisted: true,
  detectors: [...allDetectors],
};
/** columns past the plan (index 9 and up) are unlisted, so redacted under maskUnlisted */
const COLUMNS = 11;

const values = [
  '',
  'a',
  'Ann Tanaka',
  'Regular customer.',
  'ann.tanaka1@example.org',
  '@',
  'x@',
  '@example.com',
  'a@b@c.example',
  'no at sign here',
  '+1 776 555 1988',
  '(415) 555-2671',
  '4875380692908486',
  '4111-1111-1111-1111',
  '275-10-5481',
  '- ( ) . / + @',
  '1234',
  'Called support; paid with card 4316 2010 6240 8468 instead of the one on file.',
  'mail me at bob@example.com or 415-555-2671',
  'IBAN GB82 WEST 1234 5698 7654 32, ip 10.0.0.1, fe80::1',
  'héllo wörld',
  'josé.müller@exämple.de',
  'ünïcode 4111 1111 1111 1111',
  '😀 emoji 😀',
  '日本語のテキスト',
  'tab\tand\nnewline',
  '"quoted", {json: [1, 2]}',
  '{a,"b,c",NULL,"\\"q\\"",bob@example.com}',
  '\\x00ff10',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '2024-03-02 10:11:12.345678+02',
];

/** What maskUtf8 gives for one cell: the masked text, or undefined when it left the value to maskCell. */
function viaBytes(masker: Masker, column: number, value: string): { out: string | null; handled: boolean } {
  const src = Buffer.concat([Buffer.from('pre'), Buffer.from(value, 'utf8'), Buffer.from('post')]);
  const start = 3;
  const end = src.length - 4;
  const out = Buffer.alloc(end - start + 3 + 16, 0xee);
  const n = masker.maskUtf8(column, src, start, end, out, 8);
  if (n === AS_TEXT) return { out: masker.maskCell(column, value), handled: false };
  if (n === UNCHANGED) return { out: value, handled: true };
  assert.ok(n >= 0 && n <= end - start + 3, `column ${column}: ${n} bytes written for ${JSON.stringify(value)}`);
  assert.ok(out.subarray(0, 8).every((b) => b === 0xee) && out.subarray(8 + n).every((b) => b === 0xee), 'nothing written outside its place');
  return { out: out.toString('utf8', 8, 8 + n), handled: true };
}

test('maskUtf8 on the bytes equals maskCell on the text, value for value, column for column, counts included', () => {
  const text = createMasker({ plan, hashKey: 'k', columnCount: COLUMNS });
  const bytes = createMasker({ plan, hashKey: 'k', columnCount: COLUMNS });
  let handled = 0;
  for (let column = 0; column < COLUMNS + 2; column++) {
    for (const value of values) {
      const want = text.maskCell(column, value);
      const got = viaBytes(bytes, column, value);
      assert.equal(got.out, want, `column ${column} (${plan.columns[column]?.name ?? 'unlisted'}), value ${JSON.stringify(value)}`);
      if (got.handled) handled++;
    }
  }
  assert.deepEqual(bytes.stats, text.stats);
  // the byte path did the work for most cells, not only handed them back
  assert.ok(handled > values.length * 3, `${handled} cells masked on their bytes`);
});

test('maskUtf8 hands back what it cannot do exactly on bytes: non-ASCII under an action, hash, redact, null', () => {
  const masker = createMasker({ plan, hashKey: 'k', columnCount: COLUMNS });
  const at = (column: number, value: string) => {
    const src = Buffer.from(value, 'utf8');
    return masker.maskUtf8(column, src, 0, src.length, Buffer.alloc(src.length + 3), 0);
  };
  assert.equal(at(1, 'héllo 1234'), AS_TEXT);
  assert.equal(at(4, 'josé@example.com'), AS_TEXT);
  assert.equal(at(4, 'no at sign'), AS_TEXT, 'redacted by the text path');
  assert.equal(at(5, 'x'), AS_TEXT);
  assert.equal(at(6, 'x'), AS_TEXT);
  assert.equal(at(7, 'x'), AS_TEXT);
  // text a detector might match is scanned as text; text with no digit and no @ cannot hold a finding
  assert.equal(at(0, 'room 101'), AS_TEXT);
  assert.equal(at(0, 'a@b'), AS_TEXT);
  assert.equal(at(0, 'plain words, ünïcode too'), UNCHANGED);
  assert.equal(at(8, 'ann@example.com 4111 1111 1111 1111'), UNCHANGED, 'exempt from detectors');
  assert.deepEqual(masker.stats.maskedCells, 0, 'nothing handed back was counted');
});

test('maskUtf8 without detectors leaves clear columns untouched whatever they hold', () => {
  const masker = createMasker({ plan: { ...plan, detectors: [] }, hashKey: 'k', columnCount: COLUMNS });
  const src = Buffer.from('ann@example.com 4111 1111 1111 1111');
  assert.equal(masker.maskUtf8(0, src, 0, src.length, Buffer.alloc(64), 0), UNCHANGED);
});

test('partial on bytes equals partial on text for every keep and every mix of separators, letters and digits', () => {
  const alphabet = ['a', 'Z', '7', ' ', '-', '.', '(', ')', '/', '+', '@', '_', '#'];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let keep = 0; keep <= 6; keep++) {
    const p: MaskingPlan = { columns: [{ index: 0, name: 'p', action: { kind: 'partial', keep } }], maskUnlisted: false, detectors: [] };
    const text = createMasker({ plan: p, hashKey: 'k', columnCount: 1 });
    const bytes = createMasker({ plan: p, hashKey: 'k', columnCount: 1 });
    for (let k = 0; k < 400; k++) {
      const value = Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      assert.equal(viaBytes(bytes, 0, value).out, text.maskCell(0, value), `keep ${keep}, ${JSON.stringify(value)}`);
    }
    assert.deepEqual(bytes.stats, text.stats);
  }
});

test('mayHoldFinding: every detector finding needs a digit or an @, so text without either is never changed by a scan', () => {
  // every kind of finding, and near misses, are seen as possible
  for (const value of values.concat(['ann@example.com', '123-45-6789', 'GB82 WEST 1234 5698 7654 32', '::1', '10.1.2.3', '+44 20 7946 0958'])) {
    const b = Buffer.from(value, 'utf8');
    const found = Object.keys(detect(value, [...allDetectors]).found).length > 0;
    if (found) assert.equal(mayHoldFinding(b, 0, b.length), true, JSON.stringify(value));
  }
  // random text without digits or @ (ASCII punctuation, letters, non-ASCII) never holds a finding
  const alphabet = [...'abcXYZ .-:+()/_#,;!?', 'é', 'ß', '日', '😀', '٣', '０'];
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let k = 0; k < 3000; k++) {
    const value = Array.from({ length: 3 + Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const b = Buffer.from(value, 'utf8');
    assert.equal(mayHoldFinding(b, 0, b.length), false);
    assert.deepEqual(detect(value, [...allDetectors]).found, {}, JSON.stringify(value));
  }
});
