import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import { assertMayDecide, canView, denialReason } from '../../src/rules.js';

const request = { subject: 'agent-1', issuer: 'https://idp', approverGroups: ['dba', 'sre'] };
const p = (subject: string, groups: string[], issuer = 'https://idp'): Principal => ({ subject, issuer, groups });
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return e instanceof AirlockError ? e.code : String(e);
  }
};

describe('decision rules', () => {
  const cases: Array<[string, Principal, string]> = [
    ['a dba', p('dba-1', ['dba']), 'ok'],
    ['an sre', p('sre-1', ['analysts', 'sre']), 'ok'],
    ['the requester, even in an approver group', p('agent-1', ['dba']), 'approval.self_approval'],
    ['the requester without an approver group', p('agent-1', ['analysts']), 'approval.self_approval'],
    ['the same subject from another issuer is another person', p('agent-1', ['dba'], 'https://other'), 'ok'],
    ['an analyst', p('analyst-2', ['analysts']), 'approval.not_approver'],
    ['nobody in any group', p('x', []), 'approval.not_approver'],
  ];
  for (const [name, who, expected] of cases) test(`${name}: ${expected}`, () => assert.equal(code(() => assertMayDecide(request, who)), expected));

  test('who may view', () => {
    assert.deepEqual(
      [p('agent-1', []), p('dba-1', ['dba']), p('analyst-2', ['analysts']), p('agent-1', [], 'https://other')].map((w) => canView(request, w)),
      [true, true, false, false],
    );
  });

  test('a denial needs a reason', () => {
    assert.equal(denialReason('  not during the freeze '), 'not during the freeze');
    for (const r of [undefined, '', '   ', '\n']) assert.equal(code(() => denialReason(r)), 'approval.reason_required');
  });
});
