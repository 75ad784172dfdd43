import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ColumnInfo } from '../../src/engines/engine.js';
import { typedCells } from '../../src/frontends/snowflake/result-stream.js';

const col = (type: string): ColumnInfo => ({ name: type.toUpperCase(), textual: true, snowflake: { name: type.toUpperCase(), type } });

describe('typedCells: a masked cell still parses as its column type', () => {
  const fix = typedCells([col('variant'), col('object'), col('array'), col('text')])!;
  const cases: [name: string, row: Array<string | null>, expected: Array<string | null>][] = [
    ['redacted cells', ['[REDACTED]', '[REDACTED]', '[REDACTED]', '[REDACTED]'], ['"[REDACTED]"', null, null, '[REDACTED]']],
    ['upstream JSON passes unchanged', ['{"a":[1,2]}', '{"b":1}', '[1,2]', 'x'], ['{"a":[1,2]}', '{"b":1}', '[1,2]', 'x']],
    ['a JSON string stays', ['"abc"', '{}', '[]', ''], ['"abc"', '{}', '[]', '']],
    ['NULL stays NULL', [null, null, null, null], [null, null, null, null]],
    ['a partial mask', ['*******-5481', '***@example.com', '****', 'y'], ['"*******-5481"', null, null, 'y']],
    ['a detector rewrite inside a number', ['{"card":**** **** **** 1111}', '{"card":**** 1111}', '[****]', 'z'], ['"{\\"card\\":**** **** **** 1111}"', null, null, 'z']],
  ];
  for (const [name, row, expected] of cases) {
    it(name, () => {
      const out = fix(row);
      assert.deepEqual(out, expected);
      for (const [i, v] of out.entries()) if (i < 3 && v !== null) assert.doesNotThrow(() => JSON.parse(v), `column ${i} parses`);
    });
  }

  it('does nothing for results without semi-structured columns', () => {
    assert.equal(typedCells([col('text'), col('fixed')]), undefined);
    assert.equal(typedCells(null), undefined);
  });
});
