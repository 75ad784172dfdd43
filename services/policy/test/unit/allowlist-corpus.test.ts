/**
 * The allow-lists must be complete enough for what the project itself sends through Airlock: every SQL text in the
 * end-to-end, fault, scale and browser tests, the services' tests, the MCP tools and the README is decided with the
 * demo configuration (plus a rule allowing every kind), and none may be refused by an allow-list, a relation or the
 * analysis budget. Statements the tests send straight to the state database (audit tables, leases, approvals) or to a
 * server without Airlock (the engine tests), and
 * the adversarial examples (the guardrail and side-channel suites, the threat model) are left out.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { demoConfigPath, loadConfigFile, type AirlockConfig } from '@airlock/config';
import type { StatementKind } from '@airlock/contracts';
import { initParsers } from '../../src/analysis/index.js';
import { evaluate } from '../../src/evaluate.js';
import { demoCatalog } from './fixtures.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
process.env.AIRLOCK_WAREHOUSE_ADMIN_KEY ??= 'unused-in-these-tests';
const demo = loadConfigFile(demoConfigPath);
const ALL_KINDS: StatementKind[] = ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'grant', 'transaction', 'set', 'show', 'explain', 'copy', 'call', 'utility', 'other'];
const config: AirlockConfig = { ...demo, policies: [...demo.policies, { name: 'any', groups: ['agents'], kinds: ALL_KINDS, decision: 'allow', role: 'reader' }] };

const SERVICE_TESTS = readdirSync(join(root, 'services')).map((s) => `services/${s}/test`);
const DIRS = ['test/e2e', 'test/faults', 'test/scale', 'test/browser', 'test/clients', ...SERVICE_TESTS, 'services/proxy/src/frontends/mcp', 'README.md'];
/** Sent to the state database or the upstream directly, not through Airlock; or adversarial on purpose. */
const NOT_THROUGH_AIRLOCK = /audit_events|\bleases\b|pg_advisory_|pooled_credentials|approval_|identity_|leftover_|pg_stat_activity|pg_proc|pg_auth|pg_roles|pg_database|information_schema/i;
/** Statements a test sends under a config of its own that admits them (`guardrails.allowFunctions`), or reads directly. */
const OWN_CONFIG = /touch_customer|FROM touched\b/;
/** Statements outside the adversarial suites that a test sends to see them refused. */
const ADVERSARIAL = /search_path = evil|standard_conforming_strings = off|FROM pg_stats$|FROM not_there$/;
const SKIP_FILES = /(guardrails|side-channels[\w-]*|postgres-surface|postgres-upstream|postgres-whole-attacks|allowlist-corpus|analysis-postgres|analysis-snowflake|masking-plan)\.test\.ts$|snowflake|\/node_modules\/|\/dist\//;
const STARTS = 'SELECT|WITH|INSERT|UPDATE|DELETE|SET|RESET|SHOW|BEGIN|COMMIT|ROLLBACK|EXPLAIN|VALUES|START';
const LITERAL = new RegExp(`'((?:${STARTS})\\b[^'\\n]*)'|"((?:${STARTS})\\b[^"\\n]*)"|\`((?:${STARTS})\\b[^\`]*)\``, 'g');

function files(path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .map((f) => join(full, f))
    .filter((f) => /\.(ts|md)$/.test(f) && !SKIP_FILES.test(f));
}

function corpus(): { file: string; sql: string }[] {
  const out = new Map<string, string>();
  for (const file of DIRS.flatMap(files)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(LITERAL)) {
      const sql = (m[1] ?? m[2] ?? m[3] ?? '').replace(/\$\{[^}]*\}/g, '1');
      if (!NOT_THROUGH_AIRLOCK.test(sql) && !ADVERSARIAL.test(sql) && !OWN_CONFIG.test(sql)) out.set(sql, relative(root, file));
    }
    if (file.endsWith('.md')) {
      for (const block of text.matchAll(/```sql\n([\s\S]*?)```/g)) {
        for (const stmt of block[1].split(';')) if (stmt.trim() !== '') out.set(stmt.trim(), relative(root, file));
      }
    }
  }
  return [...out].map(([sql, file]) => ({ sql, file }));
}

before(async () => {
  await initParsers();
});

describe('the project’s own SQL passes the allow-lists', () => {
  const all = corpus();
  test(`the corpus is not empty (${all.length} statements)`, () => assert.ok(all.length >= 50));

  test('no statement is refused by a function, setting, operator, statement or relation allow-list, nor by the budget', () => {
    const refused: string[] = [];
    for (const { sql, file } of all) {
      for (const groups of [['agents'], ['agents', 'pii-readers']]) {
        const d = evaluate({ config, principal: { subject: 's', issuer: 'i', groups }, connection: 'demo', sql, catalog: demoCatalog, requestId: 'r' });
        if (/allowlist|relation|budget/.test(d.rule ?? '')) refused.push(`${file}: ${sql.slice(0, 120)} → ${d.rule}`);
      }
    }
    assert.deepEqual(refused, []);
  });
});
