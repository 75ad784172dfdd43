import { randomUUID } from 'node:crypto';
import type { AirlockConfig } from '@airlock/config';
import type { MaskAction, policyV1 } from '@airlock/contracts';
import { evaluate, type Catalog } from '@airlock/policy';
import type { Expectation, LoadedFixture } from './fixtures.js';

export interface FixtureResult {
  fixture: LoadedFixture;
  decision: policyV1.Decision;
  /** what differs from the expectation, one line each; empty when the fixture passes */
  mismatches: string[];
}

const outcomeName = (o: policyV1.Decision['outcome']) => (o === 'approval-required' ? 'approval' : o);

export const actionName = (a: MaskAction | null | undefined): string => (!a ? 'clear' : a.kind === 'partial' ? `partial ${a.keep}` : a.kind);

/** Each output column's action as the proxy applies it: the plan's, else redact when unplaced columns are, else clear. */
export function columnActions(d: policyV1.Decision): { name: string; action: string }[] {
  return (d.analysis?.outputColumns ?? []).map((c, i) => {
    const plan = d.masking.columns.find((p) => p.index === i);
    return { name: c.name, action: plan ? actionName(plan.action) : d.masking.maskUnlisted ? 'redact' : 'clear' };
  });
}

/** What differs between the decision and the fixture's expectation. */
export function compare(expect: Expectation, d: policyV1.Decision): string[] {
  const out: string[] = [];
  if (outcomeName(d.outcome) !== expect.decision) out.push(`decision: expected ${expect.decision}, got ${outcomeName(d.outcome)} (${d.reason})`);
  if (expect.rule !== undefined && expect.rule !== d.rule) out.push(`rule: expected ${expect.rule ?? '(none)'}, got ${d.rule ?? '(none)'}`);
  if (expect.code !== undefined && expect.code !== d.code) out.push(`code: expected ${expect.code}, got ${d.code ?? '(none)'}`);
  if (expect.refusal !== undefined && !d.reason.includes(expect.refusal)) out.push(`refusal: expected text containing "${expect.refusal}", got "${d.reason}"`);
  if (expect.approvers !== undefined) {
    const got = [...(d.approval?.approverGroups ?? [])].sort().join(', ') || '(none)';
    const want = [...expect.approvers].sort().join(', ') || '(none)';
    if (got !== want) out.push(`approvers: expected ${want}, got ${got}`);
  }
  if (expect.masked !== undefined) {
    const actual = columnActions(d);
    for (const { name, action } of actual) {
      const want = expect.masked[name] ?? 'clear';
      if (want !== action) out.push(`masking of column ${name}: expected ${want}, got ${action}`);
    }
    for (const [name, want] of Object.entries(expect.masked)) {
      if (!actual.some((c) => c.name === name)) out.push(`masking of column ${name}: expected ${want}, but the statement returns no column ${name}`);
    }
  }
  return out;
}

/** Decides each fixture's statement with the policy service's own evaluation, against its connection's snapshot. */
export function runFixtures(config: AirlockConfig, fixtures: LoadedFixture[], catalogs: Map<string, Catalog>): FixtureResult[] {
  return fixtures.map((fixture) => {
    const decision = evaluate({
      config,
      principal: { subject: fixture.principal.subject, issuer: 'airlock-policy-test', groups: fixture.principal.groups },
      connection: fixture.connection,
      sql: fixture.statement,
      catalog: catalogs.get(fixture.connection)!,
      requestId: randomUUID(),
    });
    return { fixture, decision, mismatches: compare(fixture.expect, decision) };
  });
}

export const fixturesCount = (n: number) => `${n} fixture${n === 1 ? '' : 's'}`;

/** The results as a table (fixture, expected, got, result), then what differs for each failure. */
export function formatResults(results: FixtureResult[]): string[] {
  const rows = results.map(({ fixture, decision, mismatches }) => [
    fixture.name,
    fixture.expect.rule === undefined ? fixture.expect.decision : `${fixture.expect.decision} ${fixture.expect.rule ?? '(no rule)'}`,
    `${outcomeName(decision.outcome)} ${decision.rule ?? '(no rule)'}`,
    mismatches.length === 0 ? 'PASS' : 'FAIL',
  ]);
  const all = [['fixture', 'expected', 'got', 'result'], ...rows];
  const widths = [0, 1, 2].map((i) => Math.max(...all.map((r) => r[i]!.length)));
  const lines = all.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  '));
  for (const { fixture, mismatches } of results) {
    if (mismatches.length === 0) continue;
    lines.push('', `FAIL ${fixture.name} (${fixture.where})`, ...mismatches.map((m) => `  ${m}`));
  }
  const failed = results.filter((r) => r.mismatches.length > 0).length;
  lines.push('', `${fixturesCount(results.length)}: ${results.length - failed} passed, ${failed} failed`);
  return lines;
}
