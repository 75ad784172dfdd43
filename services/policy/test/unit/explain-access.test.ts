import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AirlockConfig } from '@airlock/config';
import type { Principal } from '@airlock/contracts';
import { explainAccess } from '../../src/evaluate.js';

// explain-access reads only the connections and the rules: a config with just those is enough here
const config = {
  connections: {
    demo: { type: 'postgres' },
    wh: { type: 'snowflake' },
    reports: { type: 'postgres' },
  },
  policies: [
    { name: 'deny-ddl', groups: ['*'], kinds: ['ddl'], decision: 'deny' },
    { name: 'wh-only', groups: ['data-*'], connections: ['wh'], kinds: ['select'], decision: 'allow', role: 'reader' },
    { name: 'writes', groups: ['analysts'], connections: ['demo', 'rep*'], kinds: ['insert', 'update'], tables: ['orders'], decision: 'approval', approvers: ['dba'] },
    { name: 'everyone-select', groups: ['*'], kinds: ['select'], tables: ['public.orders'], decision: 'allow', role: 'reader' },
  ],
} as unknown as AirlockConfig;

const principal = (...groups: string[]): Principal => ({ subject: 'someone', issuer: 'https://issuer.test', groups });
const writes = { rule: 'writes', decision: 'approval', kinds: ['insert', 'update'], tables: ['orders'], approvers: ['dba'] };
const everyone = { rule: 'everyone-select', decision: 'allow', kinds: ['select'], tables: ['public.orders'], approvers: [] };
const whOnly = { rule: 'wh-only', decision: 'allow', kinds: ['select'], tables: ['*'], approvers: [] };

describe('explainAccess: the rules that let a principal run statements, per connection', () => {
  const cases: Array<{ name: string; groups: string[]; connection?: string; expected: unknown }> = [
    {
      name: 'groups and connection globs match as for decisions; deny rules are left out; config order is kept',
      groups: ['analysts'],
      expected: [
        { name: 'demo', type: 'postgres', rules: [writes, everyone] },
        { name: 'wh', type: 'snowflake', rules: [everyone] },
        { name: 'reports', type: 'postgres', rules: [writes, everyone] },
      ],
    },
    {
      name: 'a group glob (data-*) matches',
      groups: ['data-science'],
      expected: [
        { name: 'demo', type: 'postgres', rules: [everyone] },
        { name: 'wh', type: 'snowflake', rules: [whOnly, everyone] },
        { name: 'reports', type: 'postgres', rules: [everyone] },
      ],
    },
    {
      name: 'no group: only the rules for everyone',
      groups: [],
      expected: [
        { name: 'demo', type: 'postgres', rules: [everyone] },
        { name: 'wh', type: 'snowflake', rules: [everyone] },
        { name: 'reports', type: 'postgres', rules: [everyone] },
      ],
    },
    { name: 'one connection asked', groups: ['data-science'], connection: 'wh', expected: [{ name: 'wh', type: 'snowflake', rules: [whOnly, everyone] }] },
    { name: 'an unknown connection: nothing', groups: ['analysts'], connection: 'nope', expected: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(explainAccess(config, principal(...c.groups), c.connection), { connections: c.expected });
    });
  }
});
