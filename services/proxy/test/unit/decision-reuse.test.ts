// A session's reusable decisions: kept by exact text until their time passes or policy announces another epoch, and
// bounded in count and text size.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { policyV1 } from '@airlock/contracts';
import { MAX_REUSED_DECISIONS, MAX_REUSED_TEXT, ReuseEpoch, ReusedDecisions, type Reusable } from '../../src/core/decision-reuse.js';

const entry = (requestId: string, until: number, generation: number): Reusable => ({
  decision: { requestId } as policyV1.Decision,
  reused: { requestId, outcome: 'allow', rule: 'r', statementDigest: 'd' },
  until,
  generation,
});

describe('reused decisions of one session', () => {
  it('answers the exact text only, until its time', () => {
    const kept = new ReusedDecisions(new ReuseEpoch());
    kept.set('SELECT 1', entry('r1', 5_000, 0));
    assert.equal(kept.get('SELECT 1', 4_999)?.decision.requestId, 'r1');
    assert.equal(kept.get('SELECT 1 ', 0), undefined);
    assert.equal(kept.get('select 1', 0), undefined);
    assert.equal(kept.get('SELECT 1', 5_000), undefined);
    // once expired it is gone, whatever the clock says next
    assert.equal(kept.get('SELECT 1', 0), undefined);
  });

  it('forgets everything kept before policy announced another epoch, and keeps nothing decided before it', () => {
    const epoch = new ReuseEpoch();
    const kept = new ReusedDecisions(epoch);
    kept.set('SELECT 1', entry('r1', 5_000, epoch.generation));
    const asked = kept.generation;
    epoch.advance();
    assert.equal(kept.get('SELECT 1', 0), undefined);
    // a decision asked for before the announcement and answered after it
    kept.set('SELECT 2', entry('r2', 5_000, asked));
    assert.equal(kept.get('SELECT 2', 0), undefined);
    kept.set('SELECT 2', entry('r3', 5_000, epoch.generation));
    assert.equal(kept.get('SELECT 2', 0)?.decision.requestId, 'r3');
  });

  it(`keeps ${MAX_REUSED_DECISIONS} texts at most, dropping the least recently used, and no text over ${MAX_REUSED_TEXT} characters`, () => {
    const kept = new ReusedDecisions(new ReuseEpoch());
    for (let i = 0; i < MAX_REUSED_DECISIONS; i++) kept.set(`SELECT ${i}`, entry(`r${i}`, 5_000, 0));
    assert.equal(kept.get('SELECT 0', 0)?.decision.requestId, 'r0');
    kept.set('SELECT new', entry('rn', 5_000, 0));
    assert.equal(kept.get('SELECT 1', 0), undefined);
    assert.equal(kept.get('SELECT 0', 0)?.decision.requestId, 'r0');
    assert.equal(kept.get('SELECT new', 0)?.decision.requestId, 'rn');
    const long = `SELECT '${'x'.repeat(MAX_REUSED_TEXT)}'`;
    kept.set(long, entry('rl', 5_000, 0));
    assert.equal(kept.get(long, 0), undefined);
    kept.clear();
    assert.equal(kept.get('SELECT 0', 0), undefined);
  });
});
