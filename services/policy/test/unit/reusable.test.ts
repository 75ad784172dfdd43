// Which decisions policy signs as reusable: allowed on the session's own lease, without approval, and changing
// nothing but rows. Everything else answers its own request alone.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { demoConfigPath, loadConfigFile, type AirlockConfig } from '@airlock/config';
import type { Principal, StatementKind } from '@airlock/contracts';
import { initParsers } from '../../src/analysis/index.js';
import { evaluate } from '../../src/evaluate.js';
import { reusable } from '../../src/signing.js';
import { demoCatalog } from './fixtures.js';

process.env.AIRLOCK_WAREHOUSE_ADMIN_KEY ??= 'unused-in-these-tests';
const demo = loadConfigFile(demoConfigPath);
const ALL_KINDS: StatementKind[] = ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'grant', 'transaction', 'set', 'show', 'explain', 'copy', 'call', 'utility', 'other'];
const config: AirlockConfig = {
  ...demo,
  policies: [...demo.policies, { name: 'agents-anything', groups: ['agents'], kinds: ALL_KINDS, decision: 'allow', role: 'reader' }],
};
/** the same rules, on a connection that mints a credential per statement */
const perStatement: AirlockConfig = {
  ...config,
  connections: { ...config.connections, demo: { ...config.connections['demo']!, leases: { ...config.connections['demo']!.leases, mode: 'statement' } } },
};
const analyst: Principal = { subject: 'agent-1', issuer: 'https://idp.test', groups: ['analysts'] };
const agent: Principal = { subject: 'agent-2', issuer: 'https://idp.test', groups: ['agents'] };

const decide = (sql: string, principal: Principal, cfg: AirlockConfig = config) =>
  evaluate({ config: cfg, principal, connection: 'demo', sql, catalog: demoCatalog, requestId: 'r-1' });

describe('reusable decisions', () => {
  before(async () => {
    await initParsers();
  });

  const cases: Array<[string, Principal, boolean, string?]> = [
    ['SELECT id, total FROM orders WHERE id = $1', analyst, true],
    ['SELECT email FROM customers', analyst, true, 'masked, still the same plan for the same text'],
    ['SELECT * FROM orders', analyst, true],
    ['SHOW search_path', analyst, false, 'builtin:session'],
    ['DELETE FROM orders WHERE id = 1', analyst, false, 'needs approval'],
    ['DROP TABLE orders', analyst, false, 'denied'],
    ['BEGIN', analyst, false, 'transaction control'],
    ["SET application_name = 'x'", analyst, false, 'a setting'],
    ['PREPARE p AS SELECT id FROM orders', analyst, false, 'a prepared statement'],
    ['DECLARE c CURSOR FOR SELECT id FROM orders', analyst, false, 'a cursor'],
    ['CREATE TABLE scratch (n int)', agent, false, 'DDL changes what other decisions saw'],
    ['UPDATE orders SET total = 0 WHERE id = 1', agent, true],
    ['SELECT 1; SELECT 2', agent, false, 'several statements'],
  ];
  for (const [sql, principal, expected, why] of cases) {
    test(`${sql}: ${expected ? 'reusable' : 'not reusable'}${why ? ` (${why})` : ''}`, () => {
      assert.equal(reusable(decide(sql, principal)), expected);
    });
  }

  test('nothing is reusable on a connection that mints a credential per statement: a decision mints one lease', () => {
    const d = decide('SELECT id FROM orders', analyst, perStatement);
    assert.deepEqual([d.outcome, d.scope?.leaseMode, reusable(d)], ['allow', 'statement', false]);
  });
});
