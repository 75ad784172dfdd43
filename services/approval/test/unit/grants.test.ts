import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { grantCovers, grantForVotes, type GrantScope, type HeldStatement } from '../../src/grants.js';
import { backoffDelay } from '../../src/delivery.js';

const now = new Date('2025-01-01T12:00:00Z');
const later = new Date('2025-01-01T12:10:00Z');
const earlier = new Date('2025-01-01T11:59:59Z');

const oneShot: GrantScope = {
  kind: 'one-shot',
  subject: 'agent-1',
  issuer: 'https://idp',
  connection: 'demo',
  fingerprint: 'f1',
  statementKind: 'delete',
  tables: ['public.orders'],
  expiresAt: later,
  usedAt: null,
};
const window: GrantScope = { ...oneShot, kind: 'window', tables: ['public.orders', 'public.customers'] };
const statement: HeldStatement = { subject: 'agent-1', issuer: 'https://idp', connection: 'demo', fingerprint: 'f1', kind: 'delete', tables: ['public.orders'] };

describe('grantCovers', () => {
  const cases: Array<[string, GrantScope, HeldStatement, boolean]> = [
    ['one-shot: the exact statement', oneShot, statement, true],
    ['one-shot: a changed statement', oneShot, { ...statement, fingerprint: 'f2' }, false],
    ['one-shot: already used', { ...oneShot, usedAt: now }, statement, false],
    ['one-shot: past its use window', { ...oneShot, expiresAt: earlier }, statement, false],
    ['one-shot: ends exactly now', { ...oneShot, expiresAt: now }, statement, false],
    ['one-shot: another subject', oneShot, { ...statement, subject: 'agent-2' }, false],
    ['one-shot: the same subject from another issuer', oneShot, { ...statement, issuer: 'https://other' }, false],
    ['one-shot: another connection', oneShot, { ...statement, connection: 'warehouse' }, false],
    ['one-shot: an empty fingerprint never matches', { ...oneShot, fingerprint: '' }, { ...statement, fingerprint: '' }, false],
    ['window: another statement of the same scope', window, { ...statement, fingerprint: 'f9' }, true],
    ['window: a subset of its tables', window, { ...statement, fingerprint: 'f9', tables: ['public.customers'] }, true],
    ['window: every table of its tables', window, { ...statement, tables: ['public.customers', 'public.orders'] }, true],
    ['window: a table outside it', window, { ...statement, tables: ['public.orders', 'public.payments'] }, false],
    ['window: only a table outside it', window, { ...statement, tables: ['public.payments'] }, false],
    ['window: a table of the same name in another schema', window, { ...statement, tables: ['audit.orders'] }, false],
    ['window: another kind', window, { ...statement, kind: 'update' }, false],
    ['window: another connection', window, { ...statement, connection: 'warehouse' }, false],
    ['window: another principal', window, { ...statement, subject: 'agent-2' }, false],
    ['window: after its end', { ...window, expiresAt: earlier }, statement, false],
    ['window: still good when used before (it is not consumed)', { ...window, usedAt: earlier }, statement, true],
  ];
  for (const [name, grant, held, expected] of cases) {
    test(name, () => assert.equal(grantCovers(grant, held, now), expected));
  }
});

describe('grantForVotes', () => {
  test('one approver without a window: one-shot', () => assert.deepEqual(grantForVotes([{ windowSeconds: null }]), { kind: 'one-shot' }));
  test('one approver with a window', () => assert.deepEqual(grantForVotes([{ windowSeconds: 3600 }]), { kind: 'window', seconds: 3600 }));
  test('every approver gave a window: the shortest', () =>
    assert.deepEqual(grantForVotes([{ windowSeconds: 3600 }, { windowSeconds: 1800 }]), { kind: 'window', seconds: 1800 }));
  test('one approver of two did not agree to a window: one-shot', () =>
    assert.deepEqual(grantForVotes([{ windowSeconds: 3600 }, { windowSeconds: null }]), { kind: 'one-shot' }));
  test('no votes: one-shot', () => assert.deepEqual(grantForVotes([]), { kind: 'one-shot' }));
});

describe('backoffDelay', () => {
  test('doubles from the base, capped, plus at most 20 % jitter', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10].map((a) => backoffDelay(a, 1000, 5000, () => 0)),
      [1000, 2000, 4000, 5000, 5000],
    );
    assert.equal(backoffDelay(1, 1000, 5000, () => 0.999999), 1200);
    assert.equal(backoffDelay(20, 1000, 5000, () => 1), 6000);
  });
});
