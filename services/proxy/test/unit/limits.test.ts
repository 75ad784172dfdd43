import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '@airlock/config';
import { AirlockError } from '@airlock/runtime';
import { PrincipalLimits, defaultLimits, resolveLimits } from '../../src/core/limits.js';

const agent = { subject: 'agent-1', issuer: 'https://issuer-a', groups: ['analysts'] };
const sameNameElsewhere = { subject: 'agent-1', issuer: 'https://issuer-b', groups: ['analysts'] };

const refused = (what: 'session' | 'statement', n: number) => (err: unknown) => {
  assert.ok(err instanceof AirlockError);
  assert.equal(err.code, 'proxy.limit_reached');
  assert.equal(err.sqlState, '53300');
  const key = what === 'session' ? 'sessionsPerPrincipal' : 'statementsPerPrincipal';
  assert.match(err.message, new RegExp(`^Airlock refused this ${what}: agent-1 already has ${n} `));
  assert.ok(err.message.includes(`(proxy.limits.${key})`) && err.message.endsWith(`raise proxy.limits.${key}`), err.message);
  return true;
};

describe('limits per principal', () => {
  test('refuses the session over the limit and gives the slot back once, however often it is released', () => {
    const limits = new PrincipalLimits({ sessionsPerPrincipal: 2, statementsPerPrincipal: 1 });
    const a = limits.takeSession(agent);
    limits.takeSession(agent);
    assert.throws(() => limits.takeSession(agent), refused('session', 2));
    a();
    a();
    limits.takeSession(agent);
    assert.throws(() => limits.takeSession(agent), refused('session', 2));
  });

  test('counts a principal by issuer and subject: the same subject from another issuer is someone else', () => {
    const limits = new PrincipalLimits({ sessionsPerPrincipal: 1, statementsPerPrincipal: 1 });
    limits.takeSession(agent);
    limits.takeSession(sameNameElsewhere);
    assert.throws(() => limits.takeSession(agent), refused('session', 1));
  });

  test('statements are counted apart from sessions', () => {
    const limits = new PrincipalLimits({ sessionsPerPrincipal: 1, statementsPerPrincipal: 2 });
    limits.takeSession(agent);
    const s = limits.takeStatement(agent);
    limits.takeStatement(agent);
    assert.throws(() => limits.takeStatement(agent), refused('statement', 2));
    s();
    limits.takeStatement(agent);
  });
});

describe('proxy.limits', () => {
  const base = 'version: 1\nidentity: { issuers: [] }\nconnections: {}\npolicies: []\n';
  test('defaults apply to every key left out', () => {
    assert.deepEqual(resolveLimits(parseConfig(base, 'c.yaml')), {
      authTimeoutMs: defaultLimits.authTimeoutSeconds * 1000,
      maxUnauthenticated: 512,
      maxUnauthenticatedPerAddress: 64,
      maxStartupBytes: 16384,
      maxLoginBodyBytes: 65536,
      maxBodyBytes: 16777216,
      sessionsPerPrincipal: 20,
      statementsPerPrincipal: 20,
    });
  });
  test('a configured key wins; an unknown one is refused', () => {
    const limits = resolveLimits(parseConfig(`${base}proxy: { limits: { authTimeoutSeconds: 3, sessionsPerPrincipal: 5 } }\n`, 'c.yaml'));
    assert.deepEqual([limits.authTimeoutMs, limits.sessionsPerPrincipal, limits.statementsPerPrincipal], [3000, 5, 20]);
    assert.throws(() => parseConfig(`${base}proxy: { limits: { sessionsPerAgent: 5 } }\n`, 'c.yaml'), /sessionsPerAgent|limits/);
  });
});
