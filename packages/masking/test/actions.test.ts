import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { MaskAction } from '@airlock/contracts';
import { MaskingPlanError, applyAction } from '../src/index.js';

const KEY = 'test-key';

const cases: Array<{ name: string; action: MaskAction; value: string; want: string | null }> = [
  // redact
  { name: 'redact ordinary', action: { kind: 'redact' }, value: 'Ann Lee', want: '[REDACTED]' },
  { name: 'redact empty', action: { kind: 'redact' }, value: '', want: '[REDACTED]' },
  { name: 'redact unicode', action: { kind: 'redact' }, value: 'Jürgen 😀', want: '[REDACTED]' },
  // null
  { name: 'null ordinary', action: { kind: 'null' }, value: '123-45-6789', want: null },
  { name: 'null empty', action: { kind: 'null' }, value: '', want: null },
  // partial
  { name: 'partial card dashes', action: { kind: 'partial', keep: 4 }, value: '4111-1111-1111-1111', want: '****-****-****-1111' },
  { name: 'partial card spaces', action: { kind: 'partial', keep: 4 }, value: '4111 1111 1111 1111', want: '**** **** **** 1111' },
  { name: 'partial card bare', action: { kind: 'partial', keep: 4 }, value: '4111111111111111', want: '************1111' },
  { name: 'partial ssn', action: { kind: 'partial', keep: 4 }, value: '123-45-6789', want: '***-**-6789' },
  { name: 'partial phone parens', action: { kind: 'partial', keep: 4 }, value: '(415) 555-2671', want: '(***) ***-2671' },
  { name: 'partial phone e164', action: { kind: 'partial', keep: 4 }, value: '+1 415 555 2671', want: '+* *** *** 2671' },
  { name: 'partial dotted', action: { kind: 'partial', keep: 4 }, value: '415.555.2671', want: '***.***.2671' },
  { name: 'partial slash', action: { kind: 'partial', keep: 2 }, value: '12/34/56', want: '**/**/56' },
  { name: 'partial email keeps @ and dots', action: { kind: 'partial', keep: 3 }, value: 'ann@example.com', want: '***@*******.com' },
  { name: 'partial keep counts only significant characters', action: { kind: 'partial', keep: 6 }, value: '123-45-6789', want: '***-45-6789' },
  { name: 'partial keep 0', action: { kind: 'partial', keep: 0 }, value: 'abc-12', want: '***-**' },
  { name: 'partial letters', action: { kind: 'partial', keep: 2 }, value: 'Annabel', want: '*****el' },
  { name: 'partial equal length fully starred', action: { kind: 'partial', keep: 4 }, value: '1234', want: '****' },
  { name: 'partial shorter fully starred', action: { kind: 'partial', keep: 4 }, value: '12', want: '**' },
  { name: 'partial short with separator', action: { kind: 'partial', keep: 4 }, value: '12-34', want: '**-**' },
  { name: 'partial single char', action: { kind: 'partial', keep: 1 }, value: 'x', want: '*' },
  { name: 'partial empty', action: { kind: 'partial', keep: 4 }, value: '', want: '' },
  { name: 'partial only separators', action: { kind: 'partial', keep: 0 }, value: '-- ..', want: '-- ..' },
  { name: 'partial unicode letters', action: { kind: 'partial', keep: 2 }, value: 'Jürgen', want: '****en' },
  { name: 'partial astral chars count once', action: { kind: 'partial', keep: 1 }, value: '😀😀x', want: '**x' },
  { name: 'partial keeps astral tail', action: { kind: 'partial', keep: 2 }, value: 'héllo😀x', want: '*****😀x' },
  { name: 'partial CJK', action: { kind: 'partial', keep: 1 }, value: '山田太郎', want: '***郎' },
  { name: 'partial long value', action: { kind: 'partial', keep: 4 }, value: '9'.repeat(100), want: '*'.repeat(96) + '9999' },
  // email
  { name: 'email ordinary', action: { kind: 'email' }, value: 'ann@example.com', want: '***@example.com' },
  { name: 'email plus tag', action: { kind: 'email' }, value: 'ann.lee+news@mail.example.org', want: '***@mail.example.org' },
  { name: 'email unicode', action: { kind: 'email' }, value: 'josé@exämple.de', want: '***@exämple.de' },
  { name: 'email last @ wins', action: { kind: 'email' }, value: '"a@b"@example.com', want: '***@example.com' },
  { name: 'email empty local', action: { kind: 'email' }, value: '@example.com', want: '***@example.com' },
  { name: 'email without @', action: { kind: 'email' }, value: 'not an address', want: '[REDACTED]' },
  { name: 'email empty', action: { kind: 'email' }, value: '', want: '[REDACTED]' },
];

for (const c of cases) {
  test(`applyAction: ${c.name}`, () => {
    assert.equal(applyAction(c.action, c.value, KEY), c.want);
  });
}

function expectedHash(key: string | Uint8Array, value: string): string {
  return 'hmac:' + createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16);
}

const hashValues = ['123-45-6789', '', 'Jürgen 😀', 'ann@example.com', 'a'.repeat(1000)];
for (const value of hashValues) {
  test(`applyAction: hash is HMAC-SHA256 truncated to 16 hex (${JSON.stringify(value.slice(0, 12))})`, () => {
    const got = applyAction({ kind: 'hash' }, value, KEY);
    assert.equal(got, expectedHash(KEY, value));
    assert.match(got ?? '', /^hmac:[0-9a-f]{16}$/);
  });
}

test('applyAction: hash is deterministic under one key', () => {
  const a = applyAction({ kind: 'hash' }, 'ann@example.com', KEY);
  const b = applyAction({ kind: 'hash' }, 'ann@example.com', KEY);
  assert.equal(a, b);
});

test('applyAction: hash depends on the key', () => {
  const a = applyAction({ kind: 'hash' }, 'ann@example.com', 'key-one');
  const b = applyAction({ kind: 'hash' }, 'ann@example.com', 'key-two');
  assert.notEqual(a, b);
});

test('applyAction: hash distinguishes values', () => {
  const a = applyAction({ kind: 'hash' }, '123-45-6789', KEY);
  const b = applyAction({ kind: 'hash' }, '123-45-6780', KEY);
  assert.notEqual(a, b);
});

test('applyAction: a Uint8Array key equals the same bytes given as a string', () => {
  const bytes = new TextEncoder().encode(KEY);
  assert.equal(applyAction({ kind: 'hash' }, 'x', bytes), applyAction({ kind: 'hash' }, 'x', KEY));
  assert.equal(applyAction({ kind: 'hash' }, 'x', bytes), expectedHash(bytes, 'x'));
});

test('applyAction: hash with an empty key is refused without echoing the value', () => {
  assert.throws(
    () => applyAction({ kind: 'hash' }, 'secret-value-123', ''),
    (err: unknown) => err instanceof MaskingPlanError && err.code === 'masking.invalid_plan' && !err.message.includes('secret-value-123'),
  );
  assert.throws(() => applyAction({ kind: 'hash' }, 'x', new Uint8Array(0)), MaskingPlanError);
});

const badActions: Array<{ name: string; action: unknown }> = [
  { name: 'negative keep', action: { kind: 'partial', keep: -1 } },
  { name: 'fractional keep', action: { kind: 'partial', keep: 1.5 } },
  { name: 'missing keep', action: { kind: 'partial' } },
  { name: 'unknown kind', action: { kind: 'shuffle' } },
];
for (const c of badActions) {
  test(`applyAction: refuses ${c.name} without echoing the value`, () => {
    assert.throws(
      () => applyAction(c.action as MaskAction, 'secret-value-123', KEY),
      (err: unknown) => err instanceof MaskingPlanError && !err.message.includes('secret-value-123'),
    );
  });
}
