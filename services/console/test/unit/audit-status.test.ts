import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { auditPage } from '../../src/views/audit.js';

/** The console's audit status: a chain intact but not checked against the event stream is never shown as verified. */
describe('the audit status card', () => {
  const viewer = { name: 'auditor-1', roles: { approver: false, auditor: true, admin: false }, csrf: 'c' };
  const card = (verify: Parameters<typeof auditPage>[1]) => /<section class="card verify (\w+)" id="chain-status">\s*(.*?)\s*<\/section>/s.exec(auditPage(viewer, verify, []).text)!.slice(1);

  it('verified: the chain, its checkpoints and the stream all checked', () => {
    assert.deepEqual(card({ ok: true, rows: 40, lastSeq: 41, checkpoints: 2, streamEvents: 39 }), [
      'ok',
      '<h2>Chain verified</h2><p>All 40 events, up to sequence 41, link and match their hashes; checked against 2 signed checkpoints and 39 events of the event stream.</p>',
    ]);
  });

  it('not checked against the stream: a warning with the reason, not "Chain verified"', () => {
    assert.deepEqual(card({ ok: true, rows: 40, lastSeq: 41, checkpoints: 2, streamUnavailable: 'the event stream could not be read (TIMEOUT)' }), [
      'warn',
      '<h2>Chain verified, event stream not checked</h2><p>All 40 events, up to sequence 41, link and match their hashes, but the table could not be checked against the event stream: the event stream could not be read (TIMEOUT).</p>',
    ]);
  });

  it('broken: the first problem', () => {
    assert.deepEqual(card({ ok: false, rows: 11, lastSeq: 11, firstBad: { seq: 12, problem: 'missing', message: 'row 12 is missing (the next row present is 13)' } }), [
      'bad',
      '<h2>Chain broken</h2><p>11 events verified; event 12 is <b>missing</b>: row 12 is missing (the next row present is 13)</p>',
    ]);
  });
});
