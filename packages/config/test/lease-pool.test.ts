import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse, stringify } from 'yaml';
import { demoConfigPath, parseConfig } from '../src/index.js';

/** The demo config with `leases.pool` set on one connection. */
function withPool(connection: string, pool: unknown): string {
  const config = parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>;
  config['connections'][connection]['leases'] = { ...config['connections'][connection]['leases'], mode: 'statement', pool };
  return stringify(config);
}

describe('leases.pool', () => {
  it('loads on a PostgreSQL connection', () => {
    const config = parseConfig(withPool('demo', { size: 8, maxWaitSeconds: 120 }), 'pool.yaml');
    assert.deepEqual(config.connections['demo']!.leases?.pool, { size: 8, maxWaitSeconds: 120 });
  });

  it('is refused on a Snowflake connection, whose credentials are not pooled', () => {
    assert.throws(
      () => parseConfig(withPool('warehouse', { size: 8 }), 'pool.yaml'),
      (err: Error) => /connection "warehouse" sets leases\.pool, which only PostgreSQL connections have/.test(err.message),
    );
  });

  it('opens connections ahead out of the pool, never more than it holds', () => {
    const config = parseConfig(withPool('demo', { size: 8, open: 4 }), 'pool.yaml');
    assert.deepEqual(config.connections['demo']!.leases?.pool, { size: 8, open: 4 });
    assert.throws(
      () => parseConfig(withPool('demo', { size: 2, open: 3 }), 'pool.yaml'),
      (err: Error) => /connection "demo" sets leases\.pool\.open \(3\) above leases\.pool\.size \(2\)/.test(err.message),
    );
  });

  it('needs a size of at least one and no unknown setting', () => {
    assert.throws(() => parseConfig(withPool('demo', { size: 0 }), 'pool.yaml'), /invalid configuration/);
    assert.throws(() => parseConfig(withPool('demo', { size: 2, idle: 5 }), 'pool.yaml'), /invalid configuration/);
  });
});
