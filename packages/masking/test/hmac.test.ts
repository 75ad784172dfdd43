import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Hmac64 } from '../src/hmac.js';

// Hmac64 is a JavaScript HMAC-SHA256 used on the hot path; node:crypto is the reference it must match bit for bit.

function reference(key: Uint8Array, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16);
}

/** Deterministic bytes so a failure is reproducible. */
function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const keyLengths = [1, 16, 32, 63, 64, 65, 128, 200];
for (const keyLength of keyLengths) {
  test(`Hmac64 matches node:crypto, ${keyLength}-byte key, messages 0-200 bytes around every block boundary`, () => {
    const key = bytes(keyLength, keyLength);
    const hmac = new Hmac64(key);
    for (let len = 0; len <= 200; len++) {
      const ascii = 'x'.repeat(len);
      const latin = String.fromCharCode(...bytes(len, len));
      const mixed = 'é😀山'.repeat(len % 23) + 'a'.repeat(len);
      for (const value of [ascii, latin, mixed]) assert.equal(hmac.hex16(value), reference(key, value), `length ${len}`);
    }
  });
}

const specials: Array<{ name: string; value: string }> = [
  { name: 'empty', value: '' },
  { name: 'lone high surrogate', value: 'a\ud800b' },
  { name: 'lone low surrogate', value: '\udc00' },
  { name: 'NUL bytes', value: '\u0000\u0000' },
  { name: 'long value (grows the scratch buffer)', value: 'ü'.repeat(5000) },
  { name: 'ssn', value: '123-45-6789' },
];
for (const c of specials) {
  test(`Hmac64 matches node:crypto: ${c.name}`, () => {
    const key = new TextEncoder().encode('k');
    const hmac = new Hmac64(key);
    assert.equal(hmac.hex16(c.value), reference(key, c.value));
    assert.equal(hmac.hex16(c.value), reference(key, c.value), 'and again on a reused instance');
  });
}

test('Hmac64: RFC 4231 test case 2 (truncated to 64 bits)', () => {
  const hmac = new Hmac64(new TextEncoder().encode('Jefe'));
  assert.equal(hmac.hex16('what do ya want for nothing?'), '5bdcc146bf60754e');
});
