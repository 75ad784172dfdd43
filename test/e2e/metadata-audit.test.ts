// How metadata reads are recorded is a config choice (`audit.metadataReads`): `each` records every catalog read like
// any statement; `summary` counts allowed catalog reads on the session's `session-closed` event and records nothing
// else for them, while refusals, failures and data reads stay recorded one by one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';


/** Runs the statements on one connection and returns the audit events of its session once it has closed. */
async function session(t: TestStack, subject: string, statements: string[]): Promise<Array<{ event_type: string; payload: any }>> {
  const token = await t.token({ subject, groups: ['analysts'] });
  const c = new pg.Client({ connectionString: t.pgUrl(token) });
  await c.connect();
  for (const sql of statements) await c.query(sql).catch(() => undefined);
  await c.end();
  const opened = await eventually(async () => {
    const rows = await t.auditRows("event_type = 'proxy.v1.session-opened' AND payload->'principal'->>'subject' = $1", [subject]);
    return rows.length === 1 ? rows[0] : undefined;
  });
  const id = opened!.payload.sessionId as string;
  return eventually(async () => {
    const rows = await t.auditRows('session_id = $1', [id]);
    return rows.some((r) => r.event_type === 'proxy.v1.session-closed') ? rows : undefined;
  }, 15_000, 'the session closed');
}

const STATEMENTS = [
  "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relname = 'customers'",
  "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'",
  'SELECT * FROM pg_stats',
  'SELECT id FROM orders WHERE id = 1',
];

for (const mode of ['each', 'summary'] as const) {
  describe(`audit.metadataReads: ${mode}`, () => {
    let t: TestStack;
    before(async () => {
      t = await startTestStack({
        configure: (config) => {
          config.audit = { ...config.audit, metadataReads: mode };
        },
      });
    });
    after(async () => {
      await t?.close();
    });

    it(mode === 'each' ? 'records every catalog read like any statement' : 'counts allowed catalog reads on the session and records refusals and data reads one by one', async () => {
      const events = await session(t, `meta-${mode}`, STATEMENTS);
      const decided = events.filter((e) => e.event_type === 'policy.v1.decided').map((e) => [e.payload.sql, e.payload.decision.outcome, e.payload.decision.rule]);
      const closed = events.find((e) => e.event_type === 'proxy.v1.session-closed')!.payload;
      const failed = events.filter((e) => e.event_type === 'proxy.v1.query-failed').map((e) => e.payload.code);
      assert.deepEqual(failed, ['policy.forbidden_relation']);
      if (mode === 'each') {
        assert.deepEqual(decided, [
          [STATEMENTS[0], 'allow', 'builtin:metadata'],
          [STATEMENTS[1], 'allow', 'builtin:metadata'],
          [STATEMENTS[2], 'deny', 'guardrail:postgres:relation:pg_stats'],
          [STATEMENTS[3], 'allow', 'analysts-read'],
        ]);
        assert.equal(events.filter((e) => e.event_type === 'proxy.v1.query-completed').length, 3);
        assert.equal(closed.metadataReads, undefined);
      } else {
        assert.deepEqual(decided, [
          [STATEMENTS[2], 'deny', 'guardrail:postgres:relation:pg_stats'],
          [STATEMENTS[3], 'allow', 'analysts-read'],
        ]);
        assert.equal(events.filter((e) => e.event_type === 'proxy.v1.query-completed').length, 1);
        assert.equal(closed.metadataReads, 2);
      }
      assert.equal(closed.statements, 4);
    });
  });
}
