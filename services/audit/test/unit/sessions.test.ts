import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSession } from '../../src/sessions.js';
import { formatTranscript } from '../../src/transcript.js';

const principal = { subject: 'agent-1', issuer: 'https://issuer.example', groups: ['analysts'] };
const at = (ms: number) => new Date(Date.UTC(2025, 0, 31, 12, 0, 0) + ms);
const ev = (ms: number, event_type: string, payload: Record<string, unknown>) => ({ event_type, event_time: at(ms), payload });
const decision = (outcome: string, rule: string | null, reason: string, code?: string) => ({
  outcome,
  rule,
  reason,
  ...(code ? { code } : {}),
  analysis: { kind: 'select', tables: [{ schema: 'public', table: 'customers', access: 'read' }] },
});

const events = [
  ev(0, 'proxy.v1.session-opened', { sessionId: 's1', principal, connection: 'demo', frontend: 'pgwire', client: '127.0.0.1:5000' }),
  ev(12, 'policy.v1.decided', { requestId: 'r1', sessionId: 's1', sql: 'SELECT id,\n  email\nFROM customers', decision: decision('allow', 'analysts-read', 'allowed') }),
  ev(15, 'proxy.v1.query-started', { requestId: 'r1', sessionId: 's1', leaseId: 'l1' }),
  ev(30, 'proxy.v1.query-completed', {
    requestId: 'r1',
    sessionId: 's1',
    leaseId: 'l1',
    command: 'SELECT 3',
    rows: 3,
    bytes: 90,
    maskedCells: 2,
    detected: {},
    durationMs: 18.4,
    result: { columns: ['id', 'email'], rows: [['1', '***@example.com'], ['2', null]], truncated: true },
  }),
  ev(1500, 'policy.v1.decided', { requestId: 'r2', sessionId: 's1', sql: 'DROP TABLE orders', decision: decision('deny', 'refuse-ddl', 'no DDL', 'policy.denied') }),
  ev(1501, 'proxy.v1.query-failed', { requestId: 'r2', sessionId: 's1', leaseId: null, code: 'policy.denied', sqlState: '42501', message: 'refused: no DDL', durationMs: 1.2 }),
  ev(2000, 'proxy.v1.session-closed', { sessionId: 's1', reason: 'client-terminated', statements: 2 }),
];

describe('session replay', () => {
  it('folds the events into statements', () => {
    const s = buildSession(events)!;
    assert.equal(s.statements.length, 2);
    assert.deepEqual(
      s.statements.map((x) => [x.requestId, x.offsetMs, x.outcome, x.decision?.outcome, x.leaseId, x.rows ?? null]),
      [
        ['r1', 12, 'completed', 'allow', 'l1', 3],
        ['r2', 1500, 'failed', 'deny', null, null],
      ],
    );
    assert.deepEqual([s.completed, s.failed, s.denied, s.maskedCells, s.closeReason], [1, 1, 1, 2, 'client-terminated']);
    assert.deepEqual(s.tables, ['public.customers']);
    assert.equal(buildSession(events.slice(1)), undefined);
  });

  it('prints a timed transcript with the recorded result', () => {
    assert.equal(
      formatTranscript(buildSession(events)!),
      [
        'session s1: agent-1 (analysts) on demo via pgwire from 127.0.0.1:5000, opened 2025-01-31T12:00:00.000Z',
        '+0.012s  agent-1@demo  SELECT id, email FROM customers  → allow (rule analysts-read) → SELECT 3 rows, 2 masked cells in 18 ms',
        '    id | email',
        '    ---+----------------',
        '    1  | ***@example.com',
        '    2  | NULL',
        '    (recording truncated: 2 of 3 rows kept)',
        '+1.500s  agent-1@demo  DROP TABLE orders  → deny (rule refuse-ddl) → failed 42501 policy.denied: refused: no DDL in 1 ms',
        '+2.000s  agent-1@demo  session closed (client-terminated), 2 statements',
        '',
      ].join('\n'),
    );
  });

  it('says so when the session has not ended', () => {
    const text = formatTranscript(buildSession(events.slice(0, 2))!);
    assert.equal(text.split('\n').slice(1).join('\n'), '+0.012s  agent-1@demo  SELECT id, email FROM customers  → allow (rule analysts-read) → no outcome recorded\n(session still open or its end was not recorded)\n');
  });

  it('shows a statement run under a reused decision with the SQL and decision of the request that decided it', () => {
    const reused = { requestId: 'r1', outcome: 'allow', rule: 'analysts-read', statementDigest: 'd1' };
    const again = [
      ...events.slice(0, 4),
      ev(40, 'proxy.v1.query-started', { requestId: 'r3', sessionId: 's1', leaseId: 'l1', reused }),
      ev(45, 'proxy.v1.query-completed', { requestId: 'r3', sessionId: 's1', leaseId: 'l1', command: 'SELECT 3', rows: 3, bytes: 90, maskedCells: 2, detected: {}, durationMs: 4 }),
      // one naming a request this session never decided keeps no SQL: nothing is borrowed from elsewhere
      ev(50, 'proxy.v1.query-started', { requestId: 'r4', sessionId: 's1', leaseId: 'l1', reused: { ...reused, requestId: 'elsewhere' } }),
    ];
    const s = buildSession(again)!;
    assert.deepEqual(
      s.statements.map((x) => [x.requestId, x.sql, x.kind, x.tables, x.decision?.rule ?? null, x.reusedFrom ?? null, x.outcome]),
      [
        ['r1', 'SELECT id,\n  email\nFROM customers', 'select', ['public.customers'], 'analysts-read', null, 'completed'],
        ['r3', 'SELECT id,\n  email\nFROM customers', 'select', ['public.customers'], 'analysts-read', 'r1', 'completed'],
        ['r4', null, null, [], null, null, 'running'],
      ],
    );
    assert.equal(
      formatTranscript(s).split('\n')[7],
      '+0.040s  agent-1@demo  SELECT id, email FROM customers  → allow (rule analysts-read) → SELECT 3 rows in 4 ms',
    );
  });

  it('shows a read recorded by its end alone (no start) with the reused decision, at the time it started', () => {
    const reused = { requestId: 'r1', outcome: 'allow', rule: 'analysts-read', statementDigest: 'd1' };
    const again = [
      ...events.slice(0, 4),
      ev(45, 'proxy.v1.query-completed', { requestId: 'r3', sessionId: 's1', leaseId: 'l1', command: 'SELECT 3', rows: 3, bytes: 90, maskedCells: 2, detected: {}, durationMs: 4, reused }),
      ev(60, 'proxy.v1.query-failed', { requestId: 'r4', sessionId: 's1', leaseId: 'l1', code: 'proxy.upstream_error', sqlState: '57014', message: 'canceled', durationMs: 10, reused }),
      // a failure naming a request this session never decided keeps no SQL
      ev(70, 'proxy.v1.query-completed', { requestId: 'r5', sessionId: 's1', leaseId: 'l1', command: 'SELECT 0', rows: 0, bytes: 0, maskedCells: 0, detected: {}, durationMs: 1, reused: { ...reused, requestId: 'elsewhere' } }),
    ];
    const s = buildSession(again)!;
    assert.deepEqual(
      s.statements.map((x) => [x.requestId, x.offsetMs, x.sql, x.decision?.rule ?? null, x.reusedFrom ?? null, x.leaseId, x.outcome]),
      [
        ['r1', 12, 'SELECT id,\n  email\nFROM customers', 'analysts-read', null, 'l1', 'completed'],
        ['r3', 41, 'SELECT id,\n  email\nFROM customers', 'analysts-read', 'r1', 'l1', 'completed'],
        ['r4', 50, 'SELECT id,\n  email\nFROM customers', 'analysts-read', 'r1', 'l1', 'failed'],
        ['r5', 69, null, null, null, 'l1', 'completed'],
      ],
    );
  });
});
