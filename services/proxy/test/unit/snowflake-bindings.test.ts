import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AirlockError } from '@airlock/runtime';
import { bindingText, bindingsToParams } from '../../src/frontends/snowflake/bindings.js';

describe('Snowflake bindings → positional parameters', () => {
  test('orders values by their 1-based position, whatever the key order', () => {
    assert.deepEqual(
      bindingsToParams({
        '2': { type: 'TEXT', value: 'alice' },
        '1': { type: 'FIXED', value: '42' },
        '3': { type: 'REAL', value: '1.5' },
      }),
      ['42', 'alice', '1.5'],
    );
  });

  test('no bindings, null and empty give no parameters', () => {
    assert.deepEqual(bindingsToParams(undefined), []);
    assert.deepEqual(bindingsToParams(null), []);
    assert.deepEqual(bindingsToParams({}), []);
  });

  test('null stays null (a TEXT binding of null is SQL NULL, not the word)', () => {
    assert.deepEqual(bindingsToParams({ '1': { type: 'TEXT', value: null }, '2': { type: 'FIXED' } }), [null, null]);
  });

  const cases: Array<{ type: string; value: unknown; text: string | null; why: string }> = [
    { type: 'TEXT', value: "it's", text: "it's", why: 'text as is' },
    { type: 'FIXED', value: '-12345678901234567890', text: '-12345678901234567890', why: 'big integers stay exact text' },
    { type: 'BOOLEAN', value: 'true', text: 'true', why: 'snowflake-sdk sends "true"' },
    { type: 'BOOLEAN', value: 'False', text: 'false', why: 'any case' },
    { type: 'BOOLEAN', value: '1', text: 'true', why: 'Snowflake spelling' },
    { type: 'BOOLEAN', value: true, text: 'true', why: 'a JSON boolean' },
    { type: 'VARIANT', value: '{"a":[1,2]}', text: '{"a":[1,2]}', why: 'JSON text passes through' },
    { type: 'VARIANT', value: { a: 1 }, text: '{"a":1}', why: 'a JSON object becomes JSON text' },
    { type: 'DATE', value: '1704067200000', text: '2024-01-01', why: 'Python sends epoch milliseconds' },
    { type: 'DATE', value: '2024-01-01', text: '2024-01-01', why: 'ISO text as is' },
    { type: 'TIMESTAMP_NTZ', value: '1704164645123456789', text: '2024-01-02T03:04:05.123456789', why: 'Python epoch nanoseconds, no zone' },
    { type: 'TIMESTAMP_LTZ', value: '1704164645123456789', text: '2024-01-02T03:04:05.123456789+00:00', why: 'an instant in UTC' },
    { type: 'TIMESTAMP_TZ', value: '1704164645000000000 1500', text: '2024-01-02T03:04:05.000000000+01:00', why: 'offset minutes + 1440' },
    { type: 'TIMESTAMP_TZ', value: '1704164645000000000 1200', text: '2024-01-02T03:04:05.000000000-04:00', why: 'negative offset' },
    { type: 'TIMESTAMP_NTZ', value: '-1000000000', text: '1969-12-31T23:59:59.000000000', why: 'before the epoch' },
    { type: 'TIMESTAMP_LTZ', value: '2024-01-02T03:04:05.000Z', text: '2024-01-02T03:04:05.000Z', why: 'snowflake-sdk sends a Date as ISO TEXT' },
    { type: 'BINARY', value: '48656C6C6F', text: '48656C6C6F', why: 'hex as is' },
  ];
  for (const c of cases) {
    test(`${c.type} ${JSON.stringify(c.value)}: ${c.why}`, () => {
      assert.equal(bindingText(c.type, c.value), c.text);
    });
  }

  const refused: Array<{ bindings: Record<string, { type?: string; value?: unknown }>; message: RegExp }> = [
    { bindings: { name: { type: 'TEXT', value: 'x' } }, message: /binding "name" is named/ },
    { bindings: { '0': { type: 'TEXT', value: 'x' } }, message: /binding "0" is named/ },
    { bindings: { '1': { type: 'FIXED', value: ['1', '2'] } }, message: /array bindings/ },
    { bindings: { '1': { type: 'FIXED', value: '1' }, '3': { type: 'FIXED', value: '3' } }, message: /^Bind variable :2 not set\.$/ },
  ];
  for (const r of refused) {
    test(`refuses ${JSON.stringify(r.bindings)}`, () => {
      assert.throws(
        () => bindingsToParams(r.bindings),
        (err: unknown) => {
          assert.ok(err instanceof AirlockError);
          assert.match(err.message, r.message);
          assert.equal(err.sqlState, '42601');
          assert.equal(err.details?.['snowflakeCode'], '002049');
          return true;
        },
      );
    });
  }
});
