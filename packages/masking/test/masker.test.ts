import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { MaskingPlan } from '@airlock/contracts';
import { MaskingPlanError, allDetectors, createMasker, type MaskStats } from '../src/index.js';

const KEY = 'masker-test-key';

function plan(partial: Partial<MaskingPlan>): MaskingPlan {
  return { columns: [], maskUnlisted: false, detectors: [], ...partial };
}

function zeroDetected(): MaskStats['detected'] {
  return { email: 0, card: 0, ssn: 0, iban: 0, phone: 0, ip: 0 };
}

const customers: MaskingPlan = plan({
  columns: [
    { index: 0, name: 'id', action: null },
    { index: 1, name: 'name', action: null },
    { index: 2, name: 'email', action: { kind: 'email' } },
    { index: 3, name: 'phone', action: { kind: 'partial', keep: 4 } },
    { index: 4, name: 'card_number', action: { kind: 'partial', keep: 4 } },
    { index: 5, name: 'ssn', action: { kind: 'hash' } },
    { index: 6, name: 'notes', action: null, reason: 'no rule' },
  ],
  detectors: [...allDetectors],
});

const rowCases: Array<{ name: string; plan: MaskingPlan; columnCount: number; row: Array<string | null>; want: Array<string | null> }> = [
  {
    name: 'each column action and a clear note',
    plan: customers,
    columnCount: 7,
    row: ['1', 'Ann Lee', 'ann@example.com', '(415) 555-2671', '4111-1111-1111-1111', '123-45-6789', 'Prefers email'],
    want: ['1', 'Ann Lee', '***@example.com', '(***) ***-2671', '****-****-****-1111', hmac('123-45-6789'), 'Prefers email'],
  },
  {
    name: 'a card in a free-text note is masked, the note stays readable',
    plan: customers,
    columnCount: 7,
    row: ['2', 'Bob', 'bob@example.org', null, null, null, 'Paid with 4111 1111 1111 1111 at checkout'],
    want: ['2', 'Bob', '***@example.org', null, null, null, 'Paid with [card] at checkout'],
  },
  {
    name: 'nulls stay null under every action',
    plan: customers,
    columnCount: 7,
    row: [null, null, null, null, null, null, null],
    want: [null, null, null, null, null, null, null],
  },
  {
    name: 'redact and null actions',
    plan: plan({ columns: [{ index: 0, name: 'a', action: { kind: 'redact' } }, { index: 1, name: 'b', action: { kind: 'null' } }] }),
    columnCount: 3,
    row: ['x', 'y', 'z'],
    want: ['[REDACTED]', null, 'z'],
  },
  {
    name: 'empty strings under actions',
    plan: plan({
      columns: [
        { index: 0, name: 'a', action: { kind: 'redact' } },
        { index: 1, name: 'b', action: { kind: 'partial', keep: 2 } },
        { index: 2, name: 'c', action: { kind: 'email' } },
      ],
    }),
    columnCount: 3,
    row: ['', '', ''],
    want: ['[REDACTED]', '', '[REDACTED]'],
  },
  {
    name: 'maskUnlisted redacts columns absent from the plan',
    plan: plan({ columns: [{ index: 1, name: 'b', action: { kind: 'email' } }], maskUnlisted: true }),
    columnCount: 3,
    row: ['x', 'ann@example.com', 'z'],
    want: ['[REDACTED]', '***@example.com', '[REDACTED]'],
  },
  {
    name: 'maskUnlisted keeps columns listed with a null action',
    plan: plan({ columns: [{ index: 0, name: 'id', action: null }], maskUnlisted: true }),
    columnCount: 2,
    row: ['7', 'secret'],
    want: ['7', '[REDACTED]'],
  },
  {
    name: 'maskUnlisted redacts extra columns of a row longer than announced',
    plan: plan({ columns: [{ index: 0, name: 'id', action: null }], maskUnlisted: true }),
    columnCount: 1,
    row: ['7', 'surprise', 'more'],
    want: ['7', '[REDACTED]', '[REDACTED]'],
  },
  {
    name: 'without maskUnlisted, extra columns still pass the detectors',
    plan: plan({ detectors: ['ssn'] }),
    columnCount: 1,
    row: ['7', '123-45-6789'],
    want: ['7', '[ssn]'],
  },
  {
    name: 'detectors do not run on columns an action already masked',
    plan: plan({ columns: [{ index: 0, name: 'card', action: { kind: 'partial', keep: 4 } }], detectors: [...allDetectors] }),
    columnCount: 1,
    row: ['4111 1111 1111 1111'],
    want: ['**** **** **** 1111'],
  },
  {
    name: 'a column listed with detect: false skips the detectors, the others still run',
    plan: plan({
      columns: [
        { index: 0, name: 'exempt', action: null, detect: false },
        { index: 1, name: 'clear', action: null },
      ],
      maskUnlisted: true,
      detectors: [...allDetectors],
    }),
    columnCount: 3,
    row: ['4111 1111 1111 1111', '4111 1111 1111 1111', 'x'],
    want: ['4111 1111 1111 1111', '[card]', '[REDACTED]'],
  },
  {
    name: 'no detectors listed: PII in clear columns passes',
    plan: plan({}),
    columnCount: 2,
    row: ['ann@example.com', '4111 1111 1111 1111'],
    want: ['ann@example.com', '4111 1111 1111 1111'],
  },
  {
    name: 'only listed detectors run',
    plan: plan({ detectors: ['email'] }),
    columnCount: 2,
    row: ['ann@example.com', '4111 1111 1111 1111'],
    want: ['[email]', '4111 1111 1111 1111'],
  },
  {
    name: 'a short row is masked as far as it goes',
    plan: customers,
    columnCount: 7,
    row: ['1', 'Ann', 'ann@example.com'],
    want: ['1', 'Ann', '***@example.com'],
  },
  {
    name: 'plan entry past columnCount applies if the column arrives',
    plan: plan({ columns: [{ index: 2, name: 'c', action: { kind: 'redact' } }] }),
    columnCount: 1,
    row: ['a', 'b', 'c'],
    want: ['a', 'b', '[REDACTED]'],
  },
];

function hmac(value: string): string {
  return 'hmac:' + createHmac('sha256', KEY).update(value).digest('hex').slice(0, 16);
}

for (const c of rowCases) {
  test(`maskRow: ${c.name}`, () => {
    const masker = createMasker({ plan: c.plan, hashKey: KEY, columnCount: c.columnCount });
    const row = [...c.row];
    const out = masker.maskRow(row);
    assert.equal(out, row, 'masks in place and returns the same array');
    assert.deepEqual(out, c.want);
  });
}

test('maskRow: leaves an unmasked row with the identical value instances', () => {
  const masker = createMasker({ plan: customers, hashKey: KEY, columnCount: 7 });
  const values = ['1', 'Ann Lee', null, null, null, null, 'Order 48213 placed 2024-03-02, total 129.99'];
  const row = [...values];
  masker.maskRow(row);
  for (let i = 0; i < values.length; i++) assert.ok(Object.is(row[i], values[i]), `column ${i}`);
  assert.deepEqual(masker.stats, { maskedCells: 0, detected: zeroDetected() });
});

test('maskRow: hash is deterministic across rows and maskers, and depends on the key', () => {
  const a = createMasker({ plan: customers, hashKey: KEY, columnCount: 7 });
  const b = createMasker({ plan: customers, hashKey: new TextEncoder().encode(KEY), columnCount: 7 });
  const c = createMasker({ plan: customers, hashKey: 'another-key', columnCount: 7 });
  const ssn = (m: ReturnType<typeof createMasker>): string | null => m.maskRow([null, null, null, null, null, '123-45-6789', null])[5];
  assert.equal(ssn(a), ssn(a));
  assert.equal(ssn(a), ssn(b));
  assert.notEqual(ssn(a), ssn(c));
  assert.equal(ssn(a), hmac('123-45-6789'));
});

test('stats: counts masked cells and detections by kind', () => {
  const masker = createMasker({ plan: customers, hashKey: KEY, columnCount: 7 });
  masker.maskRow(['1', 'Ann', 'ann@example.com', '(415) 555-2671', '4111 1111 1111 1111', '123-45-6789', 'clear note']); // 4 actions
  masker.maskRow(['2', 'Bob', null, null, null, null, 'card 4111111111111111 and bob@example.org']); // 1 cell, 2 findings
  masker.maskRow(['3', 'call +1 415 555 2671', '', '', '', '', 'from 10.0.0.1 and 10.0.0.2']); // 4 empty-string actions + 2 cells
  masker.maskRow(['GB82 WEST 1234 5698 7654 32', '123-45-6789', null, null, null, null, null]); // 2 cells
  assert.deepEqual(masker.stats, {
    maskedCells: 4 + 1 + 4 + 2 + 2,
    detected: { email: 1, card: 1, ssn: 1, iban: 1, phone: 1, ip: 2 },
  });
});

test('stats: a snapshot that callers cannot use to change the counters', () => {
  const masker = createMasker({ plan: plan({ detectors: ['email'] }), hashKey: KEY, columnCount: 1 });
  masker.maskRow(['ann@example.com']);
  const snapshot = masker.stats;
  snapshot.maskedCells = 99;
  snapshot.detected.email = 99;
  assert.deepEqual(masker.stats, { maskedCells: 1, detected: { ...zeroDetected(), email: 1 } });
});

test('stats: maskers do not share counters', () => {
  const a = createMasker({ plan: plan({ detectors: ['email'] }), hashKey: KEY, columnCount: 1 });
  const b = createMasker({ plan: plan({ detectors: ['email'] }), hashKey: KEY, columnCount: 1 });
  a.maskRow(['ann@example.com']);
  assert.equal(a.stats.maskedCells, 1);
  assert.equal(b.stats.maskedCells, 0);
});

test('maskRow: many rows through one masker give the same result as fresh maskers', () => {
  const shared = createMasker({ plan: customers, hashKey: KEY, columnCount: 7 });
  const rows: Array<Array<string | null>> = [
    ['1', 'Ann', 'ann@example.com', '555-123-4567', '5500 0000 0000 0004', '078-05-1120', 'ip 192.168.1.20'],
    ['2', 'Bob', 'no-at-sign', '12', '1', '', 'nothing here'],
    ['3', 'Eve', 'eve@example.org', '+44 20 7946 0958', '378282246310005', '123-45-6789', 'SSN 123-45-6789 noted'],
  ];
  for (let round = 0; round < 3; round++) {
    for (const row of rows) {
      const fresh = createMasker({ plan: customers, hashKey: KEY, columnCount: 7 });
      assert.deepEqual(shared.maskRow([...row]), fresh.maskRow([...row]));
    }
  }
});

const badPlans: Array<{ name: string; plan: MaskingPlan; columnCount?: number; hashKey?: string }> = [
  { name: 'duplicate column index', plan: plan({ columns: [{ index: 0, name: 'a', action: null }, { index: 0, name: 'a', action: { kind: 'redact' } }] }) },
  { name: 'negative column index', plan: plan({ columns: [{ index: -1, name: 'a', action: { kind: 'redact' } }] }) },
  { name: 'fractional column index', plan: plan({ columns: [{ index: 0.5, name: 'a', action: { kind: 'redact' } }] }) },
  { name: 'negative keep', plan: plan({ columns: [{ index: 0, name: 'a', action: { kind: 'partial', keep: -2 } }] }) },
  { name: 'unknown action', plan: plan({ columns: [{ index: 0, name: 'a', action: { kind: 'scramble' } as never }] }) },
  { name: 'unknown detector', plan: plan({ detectors: ['passport' as never] }) },
  { name: 'negative columnCount', plan: plan({}), columnCount: -1 },
  { name: 'hash without a key', plan: plan({ columns: [{ index: 0, name: 'a', action: { kind: 'hash' } }] }), hashKey: '' },
];
for (const c of badPlans) {
  test(`createMasker: refuses ${c.name}`, () => {
    assert.throws(
      () => createMasker({ plan: c.plan, hashKey: c.hashKey ?? KEY, columnCount: c.columnCount ?? 1 }),
      (err: unknown) => err instanceof MaskingPlanError && err.code === 'masking.invalid_plan',
    );
  });
}

test('createMasker: an empty key is fine when no column is hashed', () => {
  const masker = createMasker({ plan: plan({ columns: [{ index: 0, name: 'a', action: { kind: 'redact' } }] }), hashKey: '', columnCount: 1 });
  assert.deepEqual(masker.maskRow(['x']), ['[REDACTED]']);
});

test('createMasker: the hash key never appears in an error or the stats', () => {
  const secret = 'super-secret-hmac-key';
  const masker = createMasker({ plan: customers, hashKey: secret, columnCount: 7 });
  masker.maskRow(['1', 'Ann', 'ann@example.com', '(415) 555-2671', '4111 1111 1111 1111', '123-45-6789', 'n']);
  assert.ok(!JSON.stringify(masker.stats).includes(secret));
  try {
    createMasker({ plan: plan({ detectors: ['nope' as never] }), hashKey: secret, columnCount: 1 });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof MaskingPlanError);
    assert.ok(!err.message.includes(secret));
  }
});

const passCases: Array<{ name: string; plan: MaskingPlan; columnCount: number; passes: boolean }> = [
  { name: 'no action, no detector configured', plan: plan({ columns: [{ index: 0, name: 'a', action: null }] }), columnCount: 2, passes: true },
  {
    name: 'detectors configured, every column detect: false',
    plan: plan({ columns: [{ index: 0, name: 'a', action: null, detect: false }, { index: 1, name: 'b', action: null, detect: false }], detectors: [...allDetectors] }),
    columnCount: 2,
    passes: true,
  },
  {
    name: 'detectors configured, one column scanned',
    plan: plan({ columns: [{ index: 0, name: 'a', action: null, detect: false }, { index: 1, name: 'b', action: null }], detectors: ['email'] }),
    columnCount: 2,
    passes: false,
  },
  { name: 'detectors configured, an unlisted column is scanned', plan: plan({ columns: [{ index: 0, name: 'a', action: null, detect: false }], detectors: ['ssn'] }), columnCount: 2, passes: false },
  { name: 'a column action', plan: plan({ columns: [{ index: 1, name: 'b', action: { kind: 'null' }, detect: false }] }), columnCount: 2, passes: false },
  { name: 'maskUnlisted', plan: plan({ columns: [{ index: 0, name: 'a', action: null }], maskUnlisted: true }), columnCount: 2, passes: false },
  { name: 'an action on a column past the announced width', plan: plan({ columns: [{ index: 3, name: 'd', action: { kind: 'redact' } }] }), columnCount: 2, passes: false },
];

for (const c of passCases) {
  test(`passesThrough: ${c.name} → ${c.passes}`, () => {
    assert.equal(createMasker({ plan: c.plan, hashKey: KEY, columnCount: c.columnCount }).passesThrough, c.passes);
  });
}

test('passesThrough: a row longer than announced still has its extra cells scanned or redacted', () => {
  const scanned = createMasker({ plan: plan({ columns: [{ index: 0, name: 'a', action: null, detect: false }], detectors: ['email'] }), hashKey: KEY, columnCount: 1 });
  assert.equal(scanned.passesThrough, true);
  assert.deepEqual(scanned.maskRow(['ann@example.com']), ['ann@example.com']);
  const [first, extra] = scanned.maskRow(['ann@example.com', 'bob@example.com']);
  assert.equal(first, 'ann@example.com');
  assert.notEqual(extra, 'bob@example.com');
  assert.equal(scanned.stats.detected.email, 1);
  const redacting = createMasker({ plan: plan({ columns: [{ index: 0, name: 'a', action: null }], maskUnlisted: true }), hashKey: KEY, columnCount: 1 });
  assert.deepEqual(redacting.maskRow(['ann@example.com', 'bob@example.com']), ['ann@example.com', '[REDACTED]']);
});
