import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Analysis, ColumnRef, MaskAction } from '@airlock/contracts';
import { buildMaskingPlan, type MaskingRule } from '../../src/masking-plan.js';
import { demoRules } from './fixtures.js';

const ref = (table: string, column: string, schema = 'public'): ColumnRef => ({ schema, table, column });

function analysis(outputColumns: Analysis['outputColumns'], usages: Analysis['usages'] = []): Analysis {
  return {
    dialect: 'postgres',
    statementCount: 1,
    kind: 'select',
    kinds: ['select'],
    tables: [],
    outputColumns,
    usages,
    functions: [],
    fingerprint: '0'.repeat(64),
    normalized: 'SELECT …',
  };
}

function rule(name: string, column: string, action: MaskAction, more: Partial<MaskingRule> = {}): MaskingRule {
  return { name, connections: ['*'], schema: 'public', table: 'customers', column, action, exemptGroups: [], ...more };
}

describe('buildMaskingPlan', () => {
  test('the strongest action wins: null > redact > hash > email > partial', () => {
    const a = analysis([{ name: 'x', sources: [ref('customers', 'x')], exact: true }]);
    const order: MaskAction[] = [{ kind: 'partial', keep: 4 }, { kind: 'email' }, { kind: 'hash' }, { kind: 'redact' }, { kind: 'null' }];
    for (let i = 0; i < order.length; i++) {
      const rules = order.slice(0, i + 1).map((action, j) => rule(`r${j}`, 'x', action));
      const { plan } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: [], rules: [...rules].reverse(), detectors: [], direct: [true] });
      assert.deepEqual(plan.columns[0].action, order[i]);
      assert.equal(plan.columns[0].reason, `masking rule 'r${i}' on public.customers.x`);
    }
  });

  test('among partial masks, the one keeping fewer characters wins', () => {
    const a = analysis([{ name: 'x', sources: [ref('customers', 'x')], exact: true }]);
    const rules = [rule('keep6', 'x', { kind: 'partial', keep: 6 }), rule('keep2', 'x', { kind: 'partial', keep: 2 })];
    const { plan } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: [], rules, detectors: [], direct: [true] });
    assert.deepEqual(plan.columns[0].action, { kind: 'partial', keep: 2 });
  });

  test('format-preserving masks become redact on derived values, several masked sources, or without lineage detail', () => {
    const email = [ref('customers', 'email')];
    const cases: { col: Analysis['outputColumns'][number]; direct: boolean[] | undefined; expected: string }[] = [
      { col: { name: 'email', sources: email, exact: true }, direct: [true], expected: 'email' },
      { col: { name: 'upper', sources: email, exact: true }, direct: [false], expected: 'redact' },
      { col: { name: 'email', sources: email, exact: true }, direct: undefined, expected: 'redact' },
      { col: { name: 'c', sources: [...email, ref('customers', 'phone')], exact: true }, direct: [true], expected: 'redact' },
      { col: { name: 'email', sources: email, exact: false }, direct: [true], expected: 'redact' },
    ];
    for (const c of cases) {
      const { plan } = buildMaskingPlan({ analysis: analysis([c.col]), connection: 'demo', groups: ['analysts'], rules: demoRules, detectors: [], direct: c.direct });
      assert.equal(plan.columns[0].action?.kind, c.expected, JSON.stringify(c));
    }
  });

  test('a hash of a derived value is redacted (a hash of substr(x, 1, 1) is a per-character dictionary); null survives', () => {
    const a = analysis([{ name: 'h', sources: [ref('customers', 'x'), ref('customers', 'y')], exact: true }]);
    const rules = [rule('hx', 'x', { kind: 'hash' }), rule('ey', 'y', { kind: 'email' })];
    const { plan } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: [], rules, detectors: [], direct: [false] });
    assert.deepEqual(plan.columns[0].action, { kind: 'redact' });
    const one = analysis([{ name: 'h', sources: [ref('customers', 'x')], exact: true }]);
    const derived = buildMaskingPlan({ analysis: one, connection: 'demo', groups: [], rules, detectors: [], direct: [false] });
    assert.deepEqual(derived.plan.columns[0].action, { kind: 'redact' });
    const own = buildMaskingPlan({ analysis: one, connection: 'demo', groups: [], rules, detectors: [], direct: [true] });
    assert.deepEqual(own.plan.columns[0].action, { kind: 'hash' });
    const nulled = buildMaskingPlan({ analysis: one, connection: 'demo', groups: [], rules: [rule('nx', 'x', { kind: 'null' })], detectors: [], direct: [false] });
    assert.deepEqual(nulled.plan.columns[0].action, { kind: 'null' });
  });

  test('exempt groups, connections and case-insensitive globs', () => {
    const a = analysis([{ name: 'ssn', sources: [ref('Customers', 'SSN', 'Public')], exact: true }]);
    const r = rule('ssn', 's?n', { kind: 'redact' }, { schema: 'PUB*', table: 'cust*', connections: ['prod-*'], exemptGroups: ['pii-*'] });
    const run = (connection: string, groups: string[]) =>
      buildMaskingPlan({ analysis: a, connection, groups, rules: [r], detectors: ['email'], direct: [true] });
    assert.deepEqual(run('prod-eu', ['analysts']).plan.columns[0].action, { kind: 'redact' });
    assert.deepEqual(run('prod-eu', ['analysts']).maskedSources, [ref('Customers', 'SSN', 'Public')]);
    assert.equal(run('PROD-us', ['analysts']).plan.columns[0].action?.kind, 'redact');
    assert.equal(run('staging', ['analysts']).plan.columns[0].action, null);
    assert.equal(run('prod-eu', ['analysts', 'PII-Readers']).plan.columns[0].action, null);
    assert.deepEqual(run('prod-eu', ['pii-readers']).maskedSources, []);
    assert.deepEqual(run('prod-eu', []).plan.detectors, ['email']);
  });

  test('an unknown-shape column sets maskUnlisted and lists only the columns before it', () => {
    const a = analysis([
      { name: 'email', sources: [ref('customers', 'email')], exact: true },
      { name: '*', sources: [ref('events', '*', 'audit')], exact: false },
      { name: 'ssn', sources: [ref('customers', 'ssn')], exact: true },
    ]);
    const { plan, maskedSources } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: ['analysts'], rules: demoRules, detectors: [], direct: [true, false, true] });
    assert.equal(plan.maskUnlisted, true);
    assert.deepEqual(plan.columns, [{ index: 0, name: 'email', action: { kind: 'email' }, reason: "masking rule 'customers-email' on public.customers.email" }]);
    assert.deepEqual(maskedSources, [ref('customers', 'email'), ref('customers', 'ssn')]);
  });

  test('a wildcard source matches every column rule of its table', () => {
    const a = analysis([{ name: 'row_to_json', sources: [ref('customers', '*')], exact: false }]);
    const { plan, maskedSources } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: ['analysts'], rules: demoRules, detectors: [], direct: [false] });
    assert.deepEqual(plan.columns[0].action, { kind: 'redact' });
    assert.deepEqual(maskedSources, [ref('customers', '*')]);
  });

  test('masked sources include columns used only outside the select list, and written columns', () => {
    const a = analysis([{ name: 'id', sources: [ref('customers', 'id')], exact: true }], [{ clause: 'where', column: ref('customers', 'ssn') }]);
    const { plan, maskedSources } = buildMaskingPlan({
      analysis: a,
      connection: 'demo',
      groups: ['analysts'],
      rules: demoRules,
      detectors: [],
      direct: [true],
      writtenSources: [ref('customers', 'phone')],
    });
    assert.deepEqual(plan.columns, [{ index: 0, name: 'id', action: null }]);
    assert.deepEqual(maskedSources, [ref('customers', 'ssn'), ref('customers', 'phone')]);
  });

  test('the reason names the rule and says why a mask was strengthened, never a value', () => {
    const a = analysis([{ name: 'upper', sources: [ref('customers', 'email')], exact: true }]);
    const { plan } = buildMaskingPlan({ analysis: a, connection: 'demo', groups: ['analysts'], rules: demoRules, detectors: [], direct: [false] });
    assert.equal(plan.columns[0].reason, "masking rule 'customers-email' on public.customers.email, redacted: the value is derived from the masked column");
  });
});
