import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AirlockError } from '@airlock/runtime';
import { formatSeconds, parseWindow } from '../../src/duration.js';

describe('parseWindow', () => {
  const max = 8 * 3600;
  const accepted: Array<[string | number, number]> = [
    ['1h', 3600],
    ['30m', 1800],
    ['1h30m', 5400],
    ['90s', 90],
    ['2h15m10s', 8110],
    ['600', 600],
    [' 45m ', 2700],
    ['1H', 3600],
    [120, 120],
    ['8h', 28800],
    [28800, 28800],
  ];
  for (const [input, seconds] of accepted) {
    test(`${JSON.stringify(input)} is ${seconds} s`, () => assert.equal(parseWindow(input, max), seconds));
  }

  const refused: Array<[string | number, RegExp]> = [
    ['', /number of seconds or a duration/],
    ['abc', /number of seconds or a duration/],
    ['1x', /number of seconds or a duration/],
    ['30m1h', /number of seconds or a duration/],
    ['-5', /number of seconds or a duration/],
    ['1.5h', /number of seconds or a duration/],
    [1.5, /number of seconds or a duration/],
    ['0', /at least one second/],
    ['0h', /at least one second/],
    [0, /at least one second/],
    ['9h', /at most 8h \(28800 s\)/],
    ['1d', /at most 8h/],
    [28801, /at most 8h/],
  ];
  for (const [input, message] of refused) {
    test(`${JSON.stringify(input)} is refused`, () => {
      assert.throws(
        () => parseWindow(input, max),
        (e: unknown) => e instanceof AirlockError && e.code === 'approval.invalid_window' && message.test(e.message),
      );
    });
  }

  test('formatSeconds', () => {
    assert.deepEqual([formatSeconds(5400), formatSeconds(28800), formatSeconds(90), formatSeconds(86_461), formatSeconds(0)], ['1h30m', '8h', '1m30s', '1d1m1s', '0s']);
  });
});
