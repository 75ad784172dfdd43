import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { loadConfigFile } from '@airlock/config';
import { startService, type RunningService } from '@airlock/cli';
import { createHash } from 'node:crypto';
import { canonicalJson } from '@airlock/audit';
import { auditCommand } from '../../packages/cli/src/commands/audit.js';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

const statements = 1000;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('audit durability: events published while the audit service is stopped are recorded exactly once, in order', () => {
  let t: TestStack;
  let audit: RunningService | undefined;
  let auditor: string;
  let cliEnv: Record<string, string>;
  const state = () => databaseUrl(t.stateDb);
  const cli = async (args: string[]) => {
    const lines: string[] = [];
    const code = await auditCommand(args, cliEnv, (l) => lines.push(l));
    return { code, lines };
  };

  before(async () => {
    // the statements repeat one text: policy decides it once and the proxy reuses the decision for the whole run
    t = await startTestStack({ names: ['identity', 'policy', 'approval', 'credential', 'proxy'], configure: (c) => (c['policy'] = { decisionCacheSeconds: 300 }) });
    auditor = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
  });
  after(async () => {
    await audit?.close();
    await t?.close();
  });

  it(`runs ${statements} statements, then the audit service catches up with all of them in statement order`, async (ctx) => {
    const analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    await withClient(t.pgUrl(analyst), async (c) => {
      for (let i = 1; i <= statements; i++) {
        const r = await c.query({ text: 'SELECT $1::int AS n, id FROM orders WHERE id = $2', values: [i, 1], rowMode: 'array' });
        assert.deepEqual(r.rows, [[i, 1]]);
      }
    });
    const tables = await withClient(databaseUrl(t.stateDb), (c) => c.query("SELECT 1 FROM pg_tables WHERE tablename = 'audit_events'"));
    assert.equal(tables.rowCount, 0, 'the audit table exists before the audit service ever ran');

    const started = performance.now();
    audit = await startService('audit', t.env, { config: loadConfigFile(t.configPath), logger: t.logger });
    cliEnv = { AIRLOCK_AUDIT_URL: `http://127.0.0.1:${audit.ports['audit']}` };
    const completed = await eventually(
      async () => {
        const { rows } = await withClient(state(), (c) =>
          c.query<{ seq: string; payload: { result: { rows: string[][] } } }>(
            "SELECT seq, payload FROM audit_events WHERE event_type = 'proxy.v1.query-completed' ORDER BY seq",
          ),
        );
        return rows.length >= statements ? rows : undefined;
      },
      120_000,
      `${statements} query-completed records`,
    );
    const elapsed = (performance.now() - started) / 1000;
    const total = await withClient(state(), async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]!.n));
    ctx.diagnostic(`caught up with ${total} events in ${elapsed.toFixed(2)} s: ${Math.round(total / elapsed)} events/s (start-up included)`);

    assert.equal(completed.length, statements);
    // the recorded result of statement i is [i, 1]: the records are in the order the statements ran
    assert.deepEqual(
      completed.map((r) => r.payload.result.rows),
      Array.from({ length: statements }, (_, i) => [[String(i + 1), '1']]),
    );
    const counts = await withClient(state(), (c) =>
      c.query<{ event_type: string; n: string }>(
        `SELECT event_type, count(*) AS n FROM audit_events
          WHERE event_type IN ('policy.v1.decided', 'proxy.v1.query-failed') GROUP BY 1 ORDER BY 1`,
      ),
    );
    assert.deepEqual(
      counts.rows.map((r) => [r.event_type, Number(r.n)]),
      [['policy.v1.decided', 1]],
    );
    // a read that ends within moments has its end as its only record; one that ran longer also has its start, and
    // then the start names the reused decision: every statement but the first names it exactly once
    const reused = await withClient(state(), async (c) =>
      (
        await c.query<{ request_id: string; n: string }>(
          `SELECT payload->>'requestId' AS request_id, count(*) AS n FROM audit_events
            WHERE event_type IN ('proxy.v1.query-started', 'proxy.v1.query-completed') AND payload ? 'reused' GROUP BY 1`,
        )
      ).rows,
    );
    assert.equal(reused.length, statements - 1);
    assert.deepEqual(new Set(reused.map((r) => Number(r.n))), new Set([1]));
  });

  it('verifies the whole chain through the CLI and the HTTP API', async () => {
    const { code, lines } = await cli(['verify', '--token', auditor]);
    assert.equal(code, 0, lines.join('\n'));
    assert.equal(lines.length, 2);
    const m = /^audit chain intact: (\d+) rows verified \(last row (\d+)\)$/.exec(lines[0]!);
    assert.ok(m, lines[0]);
    assert.equal(m[1], m[2]);
    // what it was checked against: the checkpoint written at start, and the stream's events (the log is still live,
    // so the stream may hold fewer of them than the table has rows, never more)
    const against = /^checked against (\d+) signed checkpoints? and (\d+) acknowledged events? of the stream$/.exec(lines[1]!);
    assert.ok(against, lines[1]);
    assert.ok(Number(against[1]) >= 1, lines[1]);
    assert.ok(Number(against[2]) >= statements && Number(against[2]) <= Number(m[1]), lines[1]);
    // each statement completed; its decision was made once
    assert.ok(Number(m[1]) >= statements + 1, `only ${m[1]} rows`);

    const res = await fetch(`${cliEnv['AIRLOCK_AUDIT_URL']}/v1/verify`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { ok: boolean; rows: number; lastSeq: number };
    assert.equal(body.ok, true);
    assert.equal(body.rows, body.lastSeq);
    assert.ok(body.rows >= Number(m[1]));
  });

  it("refuses UPDATE, DELETE and TRUNCATE to the service's own role, even with the triggers disabled", async () => {
    await withClient(state(), async (c) => {
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
      try {
        for (const sql of ["UPDATE audit_events SET subject = 'x' WHERE seq = 1", 'DELETE FROM audit_events WHERE seq = 1', 'TRUNCATE audit_events']) {
          await c.query('BEGIN');
          await c.query('SET LOCAL ROLE airlock_audit_writer');
          await assert.rejects(c.query(sql), (e: { code: string; message: string }) => {
            assert.equal(e.code, '42501', sql);
            assert.equal(e.message, 'permission denied for table audit_events');
            return true;
          });
          await c.query('ROLLBACK');
        }
        // and the grants are exactly the two an append needs
        const { rows } = await c.query<{ privilege_type: string }>(
          "SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = 'airlock_audit_writer' AND table_name = 'audit_events' ORDER BY 1",
        );
        assert.deepEqual(rows.map((r) => r.privilege_type), ['INSERT', 'SELECT']);
      } finally {
        await c.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
      }
      // with the triggers on, not even the owner may change a row
      await assert.rejects(c.query('DELETE FROM audit_events WHERE seq = 1'), /audit_events is append-only/);
    });
  });

  it('names the first altered, re-hashed or missing row', async () => {
    const rows = await withClient(state(), async (c) => {
      const r = await c.query<{ seq: string; event_id: string; subject: string; payload: Record<string, unknown>; prev_hash: string }>(
        "SELECT seq, event_id, subject, payload, prev_hash FROM audit_events WHERE event_type = 'proxy.v1.query-completed' ORDER BY seq",
      );
      return r.rows.map((x) => ({ ...x, seq: Number(x.seq) }));
    });
    const tamper = async (sql: string, args: unknown[]) =>
      withClient(state(), async (c) => {
        await c.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
        try {
          await c.query(sql, args);
        } finally {
          await c.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
        }
      });

    // each tamper is earlier in the chain than the one before, so it becomes the first problem
    const altered = rows[800]!;
    await tamper(`UPDATE audit_events SET payload = jsonb_set(payload, '{rows}', '7') WHERE seq = $1`, [altered.seq]);
    let out = await cli(['verify', '--token', auditor]);
    assert.equal(out.code, 1);
    assert.equal(
      out.lines[0],
      `audit chain broken at row ${altered.seq} (altered): row ${altered.seq} was altered: its content does not match its hash [event ${altered.event_id}, proxy.v1.query-completed]`,
    );
    assert.equal(out.lines[1], `${altered.seq - 1} rows verified before it`);

    // re-hashed as whoever can write the table would: the chain is keyed, so the row is named all the same
    const relinked = rows[500]!;
    const forged = { ...relinked.payload, rows: 0 };
    const hash = createHash('sha256')
      .update(relinked.prev_hash)
      .update('\n')
      .update(canonicalJson({ seq: relinked.seq, eventId: relinked.event_id, subject: relinked.subject, payload: forged }))
      .digest('hex');
    await tamper('UPDATE audit_events SET payload = $2::jsonb, hash = $3 WHERE seq = $1', [relinked.seq, JSON.stringify(forged), hash]);
    out = await cli(['verify', '--token', auditor]);
    assert.equal(out.code, 1);
    assert.equal(
      out.lines[0],
      `audit chain broken at row ${relinked.seq} (altered): row ${relinked.seq} was altered: its content does not match its hash [event ${relinked.event_id}, proxy.v1.query-completed]`,
    );

    const deleted = rows[100]!;
    await tamper('DELETE FROM audit_events WHERE seq = $1', [deleted.seq]);
    out = await cli(['verify', '--token', auditor]);
    assert.equal(out.code, 1);
    assert.equal(out.lines[0], `audit chain broken at row ${deleted.seq} (missing): row ${deleted.seq} is missing (the next row present is ${deleted.seq + 1})`);

    const res = await fetch(`${cliEnv['AIRLOCK_AUDIT_URL']}/v1/verify`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.deepEqual(await res.json(), {
      ok: false,
      rows: deleted.seq - 1,
      lastSeq: deleted.seq - 1,
      firstBad: { seq: deleted.seq, problem: 'missing', message: `row ${deleted.seq} is missing (the next row present is ${deleted.seq + 1})` },
    });
  });
});
