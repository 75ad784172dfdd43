// Trace contexts: every statement starts one, so their ids come from Node's cached random UUIDs; they must still be
// well-formed W3C traceparents and never repeat, across many refills of that cache.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTraceparent, newContext, newTraceparent, traceIdOf } from '../../src/context.js';

describe('new trace contexts', () => {
  it('are well-formed, sampled W3C traceparents with ids that never repeat', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    for (let i = 0; i < 10_240; i++) {
      const t = newTraceparent();
      assert.ok(isTraceparent(t), t);
      const [, trace, span, flags] = t.split('-');
      assert.equal(flags, '01');
      assert.notEqual(trace, '0'.repeat(32));
      assert.notEqual(span, '0'.repeat(16));
      traces.add(trace!);
      spans.add(span!);
    }
    assert.equal(traces.size, 10_240);
    assert.equal(spans.size, 10_240);
  });

  it('start fresh, with the request id given or a new one', () => {
    const given = newContext('req-1');
    assert.deepEqual([given.requestId, given.fresh, traceIdOf(given.traceparent)?.length], ['req-1', true, 32]);
    const a = newContext();
    const b = newContext();
    assert.notEqual(a.requestId, b.requestId);
    assert.notEqual(traceIdOf(a.traceparent), traceIdOf(b.traceparent));
  });
});
