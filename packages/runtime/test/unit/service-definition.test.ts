import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfigFromEnv, startOrder, type ServiceDefinition } from '@airlock/runtime';

const def = (name: string, dependsOn: string[] = []): ServiceDefinition => ({
  name,
  dependsOn,
  loadConfig: () => ({}),
  start: async () => ({ ports: {}, close: async () => undefined }),
});

describe('service definitions', () => {
  const cases: Array<[string, ServiceDefinition[], string[]]> = [
    ['none', [], []],
    ['independent ones keep the order given', [def('a'), def('b'), def('c')], ['a', 'b', 'c']],
    ['a dependency given later starts first', [def('a', ['c']), def('b'), def('c')], ['c', 'a', 'b']],
    ['a chain', [def('a', ['b']), def('b', ['c']), def('c')], ['c', 'b', 'a']],
    ['a dependency not among them is not required', [def('a', ['missing']), def('b')], ['a', 'b']],
    ['shared dependencies start once', [def('a', ['c']), def('b', ['c']), def('c')], ['c', 'a', 'b']],
  ];
  for (const [name, given, expected] of cases) {
    it(`start order: ${name}`, () => {
      assert.deepEqual(startOrder(given).map((d) => d.name), expected);
    });
  }

  it('refuses services that depend on each other in a circle', () => {
    assert.throws(() => startOrder([def('a', ['b']), def('b', ['a'])]), /depend on each other in a circle through a/);
  });

  it('has no config to fall back to: AIRLOCK_CONFIG is required', () => {
    assert.throws(() => loadConfigFromEnv({ AIRLOCK_DEMO: '1' }), (err: unknown) => err instanceof ConfigError && /AIRLOCK_CONFIG is required/.test(err.message));
  });
});
