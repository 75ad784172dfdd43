import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { AuditStore, Integrity, canonicalJson } from '@airlock/audit';
import { startService, type RunningService } from '@airlock/cli';
import { Bus, Signer, loadSecret, tokenKinds } from '@airlock/runtime';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { auditCommand } from '../../packages/cli/src/commands/audit.js';

/**
 * What an attacker who holds the state database's role does to the audit log: disable the triggers, edit a row,
 * re-hash the chain forward with SHA-256, delete the tail. `audit verify` names each, from what lies outside the
 * table: the chain's key, the signed checkpoints, and the event stream.
 */

interface Row {
  seq: number;
  event_id: string;
  subject: string;
  payload: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

describe('an audit log that cannot be rewritten quietly', () => {
  let t: TestStack;
  let audit: RunningService;
  let auditor: string;
  let analyst: string;
  let verifier: { bus: Bus; pool: pg.Pool; integrity: Integrity };
  /**
   * `audit verify` as the audit service runs it, with the service's own key and checkpoints from its state folder.
   * In process, so that verifying itself (the auditor's token check is an event) appends nothing while rows are
   * being tampered with and put back; the last test goes through the CLI.
   */
  const verify = async () => {
    const result = await verifier.integrity.verify();
    if (result.ok) return { code: 0, lines: [`audit chain intact: ${result.rows} rows verified (last row ${result.lastSeq})`] };
    const bad = result.firstBad!;
    return { code: 1, lines: [`audit chain broken at row ${bad.seq} (${bad.problem}): ${bad.message}`] };
  };
  const cli = async () => {
    const lines: string[] = [];
    const code = await auditCommand(['verify', '--token', auditor], { AIRLOCK_AUDIT_URL: `http://127.0.0.1:${audit.ports['audit']}` }, (l) => lines.push(l));
    return { code, lines };
  };
  const state = async <T,>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  /** as the attacker: with the triggers off */
  const tamper = (fn: (c: pg.Client) => Promise<void>) =>
    state(async (c) => {
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
      try {
        await fn(c);
      } finally {
        await c.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
      }
    });
  const rows = () => state(async (c) => (await c.query<Row>('SELECT seq::int, event_id, subject, payload, prev_hash, hash FROM audit_events ORDER BY seq')).rows);
  /** puts the saved rows back exactly, so the next attack starts from an intact log */
  const restore = (saved: Row[]) =>
    tamper(async (c) => {
      await c.query('DELETE FROM audit_events WHERE seq >= $1', [saved[0]!.seq]);
      for (const r of saved) {
        await c.query(
          `INSERT INTO audit_events (seq, event_id, subject, event_type, event_time, payload, prev_hash, hash)
           VALUES ($1, $2, $3, $4, now(), $5::jsonb, $6, $7)`,
          [r.seq, r.event_id, r.subject, r.subject.split('.').slice(-3).join('.'), JSON.stringify(r.payload), r.prev_hash, r.hash],
        );
      }
    });
  const statements = async (n: number) => {
    const c = new pg.Client({ connectionString: t.pgUrl(analyst) });
    await c.connect();
    for (let i = 0; i < n; i++) await c.query('SELECT id, total FROM orders WHERE id = $1', [i + 1]);
    await c.end();
  };
  const checkpointFile = () => join(dirname(t.configPath), 'state', 'audit-checkpoints.jsonl');
  const checkpoints = () =>
    readFileSync(checkpointFile(), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { seq: number; hash: string });
  // each session's end and its lease's revocation: credential publishes the revocation without holding up the
  // proxy, so it may be stored after the session's end
  const settled = async () => {
    await eventually(async () => {
      const { rows: r } = await state((c) =>
        c.query<{ closed: number; revoked: number }>(
          `SELECT count(*) FILTER (WHERE event_type = 'proxy.v1.session-closed')::int AS closed,
                  count(*) FILTER (WHERE event_type = 'credential.v1.revoked')::int AS revoked FROM audit_events`,
        ),
      );
      return r[0]!.closed >= closedSessions && r[0]!.revoked >= closedSessions ? true : undefined;
    }, 20_000, 'the audit log caught up');
    // and nothing left for the audit consumer: every event published so far is stored
    const bus = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'audit-settle', logger: t.logger });
    try {
      const jsm = await bus.js.jetstreamManager();
      await eventually(async () => {
        const info = await jsm.consumers.info(bus.streamName, 'airlock-audit');
        return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
      }, 20_000, 'the audit consumer drained');
    } finally {
      await bus.close();
    }
  };
  let closedSessions = 0;

  before(async () => {
    // the audit service runs on its own, so the test decides when a checkpoint is taken (at its start and its close)
    t = await startTestStack({ names: ['identity', 'policy', 'approval', 'credential', 'proxy'], env: { AIRLOCK_AUDIT_CHECKPOINT_SECONDS: '3600' } });
    audit = await startService('audit', t.env, { config: t.stack.config, logger: t.logger });
    auditor = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    await statements(10);
    closedSessions += 1;
    await settled();
    // a restart checkpoints the head on the way down; the statements after it are covered by no checkpoint yet
    await audit.close();
    audit = await startService('audit', t.env, { config: t.stack.config, logger: t.logger });
    await statements(10);
    closedSessions += 1;
    await settled();
    const bus = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'audit-verify', logger: t.logger });
    const pool = new pg.Pool({ connectionString: databaseUrl(t.stateDb), max: 2 });
    const signer = await Signer.load({ service: 'audit', env: t.env, logger: t.logger }, tokenKinds.checkpoint);
    const store = new AuditStore(pool, loadSecret('audit-chain-key', t.env, t.logger));
    verifier = { bus, pool, integrity: new Integrity({ bus, store, signer, logger: t.logger, checkpointFile: checkpointFile(), durable: 'airlock-audit' }) };
  });
  after(async () => {
    await verifier?.bus.close();
    await verifier?.pool.end();
    await audit?.close();
    await t?.close();
  });

  it('verifies an intact log against its key, its signed checkpoints and the event stream', async () => {
    const out = await verify();
    assert.deepEqual(out.code, 0, out.lines.join('\n'));
    // the request itself adds an event (identity's token-verified for the auditor's token), which may be stored
    // between the read of the consumer's acknowledgements and the walk of the chain: counted in rows, not yet in the
    // cross-check with the stream. Asked again, a quiet log matches exactly
    let body: { ok: boolean; rows: number; checkpoints: number; streamEvents: number } | undefined;
    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${audit.ports['audit']}/v1/verify`, { headers: { authorization: `Bearer ${auditor}` } });
      body = (await res.json()) as typeof body;
      assert.equal(body!.ok, true);
      return body!.streamEvents === body!.rows ? true : undefined;
    }, 10_000, 'a verify whose cross-check matched every row');
    assert.ok(body!.checkpoints >= 2, `checkpoints: ${body!.checkpoints}`);
    assert.equal(body!.streamEvents, body!.rows);
    const last = checkpoints().at(-1)!;
    assert.ok(last.seq > 0 && last.seq < body!.rows, `last checkpoint ${last.seq} of ${body!.rows} rows`);
  });

  it('names a row edited and re-hashed forward with SHA-256', async () => {
    const all = await rows();
    const target = all.find((r) => r.subject.endsWith('proxy.v1.query-completed'))!;
    const saved = all.filter((r) => r.seq >= target.seq);
    await tamper(async (c) => {
      let prev = target.prev_hash;
      for (const r of saved) {
        const payload = r.seq === target.seq ? { ...r.payload, rows: 0 } : r.payload;
        const hash = createHash('sha256').update(prev).update('\n').update(canonicalJson({ seq: r.seq, eventId: r.event_id, subject: r.subject, payload })).digest('hex');
        await c.query('UPDATE audit_events SET payload = $2::jsonb, prev_hash = $3, hash = $4 WHERE seq = $1', [r.seq, JSON.stringify(payload), prev, hash]);
        prev = hash;
      }
    });
    const out = await verify();
    assert.equal(out.code, 1);
    assert.equal(out.lines[0], `audit chain broken at row ${target.seq} (altered): row ${target.seq} was altered: its content does not match its hash`);
    await restore(saved);
    assert.deepEqual(await verify(), { code: 0, lines: [`audit chain intact: ${all.length} rows verified (last row ${all.at(-1)!.seq})`] });
  });

  it('names a payload changed without re-hashing', async () => {
    const all = await rows();
    const a = all.at(-3)!;
    const saved = all.filter((r) => r.seq >= a.seq);
    await tamper(async (c) => {
      await c.query(`UPDATE audit_events SET payload = jsonb_set(payload, '{connection}', '"elsewhere"') WHERE seq = $1`, [a.seq]);
    });
    const out = await verify();
    assert.equal(out.code, 1);
    assert.match(out.lines[0]!, new RegExp(`^audit chain broken at row ${a.seq} \\(altered\\)`));
    await restore(saved);
    assert.deepEqual(await verify(), { code: 0, lines: [`audit chain intact: ${all.length} rows verified (last row ${all.at(-1)!.seq})`] });
  });

  it('names a tail deleted below a signed checkpoint', async () => {
    const all = await rows();
    const covered = checkpoints().at(-1)!.seq;
    const from = covered - 3;
    const saved = all.filter((r) => r.seq >= from);
    await tamper(async (c) => {
      await c.query('DELETE FROM audit_events WHERE seq >= $1', [from]);
    });
    const out = await verify();
    assert.equal(out.code, 1);
    assert.match(
      out.lines[0]!,
      new RegExp(`^audit chain broken at row ${from} \\(truncated\\): the table ends at row ${from - 1} but the checkpoint signed at \\S+ vouches for row ${covered}: rows ${from} to ${covered} were removed$`),
    );
    await restore(saved);
    assert.deepEqual(await verify(), { code: 0, lines: [`audit chain intact: ${all.length} rows verified (last row ${all.at(-1)!.seq})`] });
  });

  it('names a tail deleted after the last checkpoint, from the event stream', async () => {
    const all = await rows();
    const covered = checkpoints().at(-1)!.seq;
    const last = all.at(-1)!.seq;
    assert.ok(last - covered > 5, `rows after the last checkpoint: ${last - covered}`);
    const from = covered + 3;
    const saved = all.filter((r) => r.seq >= from);
    await tamper(async (c) => {
      await c.query('DELETE FROM audit_events WHERE seq >= $1', [from]);
    });
    const out = await verify();
    assert.equal(out.code, 1);
    const first = saved[0]!;
    assert.match(
      out.lines[0]!,
      new RegExp(
        `^audit chain broken at row ${from} \\(truncated\\): the table ends at row ${from - 1} but the event stream holds later events it recorded, from event ${first.event_id} \\(${first.subject.split('.').slice(-3).join('.')}, stream sequence \\d+\\): the tail was removed`,
      ),
    );
    await restore(saved);
    assert.deepEqual(await verify(), { code: 0, lines: [`audit chain intact: ${all.length} rows verified (last row ${all.at(-1)!.seq})`] });
  });

  it('names it through `airlock audit verify` too, while the log keeps growing', async () => {
    const all = await rows();
    const target = all.at(-4)!;
    await tamper(async (c) => {
      let prev = target.prev_hash;
      for (const r of all.filter((x) => x.seq >= target.seq)) {
        const payload = r.seq === target.seq ? { ...r.payload, tampered: true } : r.payload;
        const hash = createHash('sha256').update(prev).update('\n').update(canonicalJson({ seq: r.seq, eventId: r.event_id, subject: r.subject, payload })).digest('hex');
        await c.query('UPDATE audit_events SET payload = $2::jsonb, prev_hash = $3, hash = $4 WHERE seq = $1', [r.seq, JSON.stringify(payload), prev, hash]);
        prev = hash;
      }
    });
    const out = await cli();
    assert.equal(out.code, 1);
    assert.equal(
      out.lines[0],
      `audit chain broken at row ${target.seq} (altered): row ${target.seq} was altered: its content does not match its hash [event ${target.event_id}, ${target.subject.split('.').slice(-3).join('.')}]`,
    );
  });
});
