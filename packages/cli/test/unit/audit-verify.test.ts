import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyReport } from '../../src/commands/audit.js';

describe('what airlock audit verify prints, and its exit code', () => {
  it('an intact log, checked against its checkpoints and the stream: exit 0', () => {
    assert.deepEqual(verifyReport({ ok: true, rows: 3005, lastSeq: 3005, checkpoints: 12, streamEvents: 3004 }), {
      code: 0,
      lines: ['audit chain intact: 3005 rows verified (last row 3005)', 'checked against 12 signed checkpoints and 3004 acknowledged events of the stream'],
    });
  });

  it('one partition: its checkpointed heads only, no stream cross-check, still exit 0', () => {
    assert.deepEqual(verifyReport({ ok: true, rows: 1, lastSeq: 7, checkpoints: 1, partitions: [{ partition: 2, rows: 1, lastSeq: 7 }] }), {
      code: 0,
      lines: ['audit chain intact: 1 rows verified (last row 7)', 'partition 2: 1 rows verified (last row 7)', 'checked against 1 signed checkpoint'],
    });
  });

  it('an intact chain whose stream could not be read does not pass as whole: exit 2, with the reason', () => {
    const streamUnavailable = 'the event stream could not be read (TIMEOUT)';
    assert.deepEqual(verifyReport({ ok: true, rows: 40, lastSeq: 40, checkpoints: 0, streamUnavailable }), {
      code: 2,
      lines: ['audit chain intact: 40 rows verified (last row 40)', 'checked against 0 signed checkpoints', `not checked against the event stream: ${streamUnavailable}`],
    });
  });

  it('a broken chain names the first problem and its partition: exit 1', () => {
    const report = verifyReport({
      ok: false,
      rows: 811,
      lastSeq: 811,
      firstBad: { seq: 812, problem: 'altered', message: 'row 812 of partition 2 was altered: its content does not match its hash', eventId: 'e-1', type: 'proxy.v1.query-completed', partition: 2 },
    });
    assert.deepEqual(report, {
      code: 1,
      lines: [
        'audit chain broken at row 812 in partition 2 (altered): row 812 of partition 2 was altered: its content does not match its hash [event e-1, proxy.v1.query-completed]',
        '811 rows verified before it',
      ],
    });
  });
});
