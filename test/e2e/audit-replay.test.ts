import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { allEvents, eventSubject } from '@airlock/contracts';
import { Validator, streamName } from '@airlock/runtime';
import { demoCustomers } from '@airlock/cli';
import { auditCommand } from '../../packages/cli/src/commands/audit.js';
import { sessionsCommand } from '../../packages/cli/src/commands/sessions.js';
import { databaseUrl, eventually, natsUrl, startTestStack, type TestStack } from '@airlock/testkit';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A SIEM webhook: records what it accepts; can hang every request or refuse the next few with 503. */
class Webhook {
  readonly accepted: Array<Record<string, any>> = [];
  refused = 0;
  failNext = 0;
  hang = false;
  readonly server: Server;
  readonly #held = new Set<() => void>();
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        if (this.hang) {
          // never answered: the forwarder's timeout must give up on it
          this.#held.add(() => res.destroy());
          return;
        }
        if (this.failNext > 0) {
          this.failNext -= 1;
          this.refused += 1;
          res.writeHead(503).end();
          return;
        }
        this.accepted.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any>);
        res.writeHead(202).end();
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/ingest`;
  }
  async close(): Promise<void> {
    for (const release of this.#held) release();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('audit read side: session replay, search, tail, the SIEM stream and the forwarder', () => {
  let t: TestStack;
  let auditor: string;
  let analyst: string;
  let base: string;
  let env: Record<string, string>;
  let nc: NatsConnection;
  const webhook = new Webhook();
  const customers = demoCustomers();

  const rows = async (where: string, args: unknown[] = []) =>
    withClient(databaseUrl(t.stateDb), async (c) => {
      const r = await c.query<{ seq: string; event_type: string; payload: any }>(`SELECT seq, event_type, payload FROM audit_events WHERE ${where} ORDER BY seq`, args);
      return r.rows;
    });
  const closedSession = async (sessionId: string) =>
    eventually(
      async () => {
        const r = await rows('session_id = $1', [sessionId]);
        return r.some((e) => e.event_type === 'proxy.v1.session-closed') && r.some((e) => e.event_type === 'credential.v1.revoked') ? r : undefined;
      },
      15_000,
      `session ${sessionId} recorded to its end`,
    );
  /** runs statements on one connection and returns its session id (from the audit log) */
  const session = async (token: string, sql: string[]): Promise<string> => {
    const before = await rows("event_type = 'proxy.v1.session-opened'");
    await withClient(t.pgUrl(token), async (c) => {
      for (const s of sql) await c.query(s).catch(() => undefined);
    });
    const opened = await eventually(async () => {
      const now = await rows("event_type = 'proxy.v1.session-opened'");
      return now.length > before.length ? now.at(-1) : undefined;
    });
    await closedSession(opened.payload.sessionId);
    return opened.payload.sessionId as string;
  };
  const cli = async (command: typeof sessionsCommand, args: string[]) => {
    const lines: string[] = [];
    const code = await command(args, env, (l) => lines.push(l));
    return { code, lines };
  };

  before(async () => {
    const url = await webhook.listen();
    t = await startTestStack({
      env: { AIRLOCK_AUDIT_FORWARD_URL: url, AIRLOCK_AUDIT_FORWARD_TIMEOUT_MS: '300', AIRLOCK_AUDIT_FORWARD_MAX_BACKOFF_MS: '200' },
    });
    auditor = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
    analyst = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    base = `http://127.0.0.1:${t.ports['audit']}`;
    env = { AIRLOCK_AUDIT_URL: base };
    nc = await connect({ servers: natsUrl });
  });
  after(async () => {
    await nc?.close();
    await t?.close();
    await webhook.close();
  });

  it('answers 401 without a token or with a bad one, and 403 without an auditor group', async () => {
    const analystAtAudit = await t.token({ subject: 'agent-1', groups: ['analysts'], audience: 'http://127.0.0.1:8082' });
    for (const path of ['/v1/events', '/v1/verify', '/v1/sessions', '/v1/sessions/x/replay']) {
      const none = await fetch(`${base}${path}`);
      assert.equal(none.status, 401, path);
      assert.equal(((await none.json()) as { code: string }).code, 'identity.missing_token');
      const bad = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(bad.status, 401, path);
      assert.equal(((await bad.json()) as { code: string }).code, 'identity.invalid_token');
      const forbidden = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${analystAtAudit}` } });
      assert.equal(forbidden.status, 403, path);
      assert.deepEqual(await forbidden.json(), { code: 'audit.forbidden', message: 'reading the audit log needs one of the groups: auditors' });
    }
    await assert.rejects(cli(sessionsCommand, ['list', '--token', analystAtAudit]), /^Error: audit\.forbidden: reading the audit log needs one of the groups: auditors$/);
    // a database token (or an approval-API one) does not open the audit API, whatever its groups
    const auditorAtDatabase = await t.token({ subject: 'auditor-1', groups: ['auditors'] });
    const auditorAtApproval = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8081' });
    for (const token of [auditorAtDatabase, auditorAtApproval]) {
      const refused = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(refused.status, 401);
      const body = (await refused.json()) as { code: string; message: string };
      assert.equal(body.code, 'identity.audience_mismatch');
      assert.match(body.message, /^the audit API takes tokens issued for audience http:\/\/127\.0\.0\.1:8082, /);
    }
    await assert.rejects(
      cli(sessionsCommand, ['list', '--token', auditorAtDatabase]),
      /\nthe audit API needs a token for audience http:\/\/127\.0\.0\.1:8082: ask your identity provider for one \(in the demo: airlock token --sub <you> --groups <groups> --aud http:\/\/127\.0\.0\.1:8082\)$/,
    );
    await assert.rejects(cli(sessionsCommand, ['list']), /pass --token <token> or set AIRLOCK_TOKEN/);
  });

  it('replays a masked session with the masked values and never stores the clear ones', async () => {
    const select = 'SELECT id, name, email, phone, card_number, ssn, notes FROM customers ORDER BY id';
    const sessionId = await session(analyst, [select, 'DROP TABLE orders']);
    const events = await rows('session_id = $1', [sessionId]);
    const completed = events.find((e) => e.event_type === 'proxy.v1.query-completed')!.payload;
    assert.equal(completed.rows, customers.length);
    assert.ok(completed.maskedCells >= customers.length * 4, `only ${completed.maskedCells} masked cells`);

    // the whole audit table, as text, holds none of the clear values
    const text = await withClient(databaseUrl(t.stateDb), async (c) => (await c.query<{ t: string }>("SELECT string_agg(payload::text, '\n') AS t FROM audit_events")).rows[0]!.t);
    for (const c of customers) {
      assert.ok(!text.includes(c.email), `customer ${c.id}'s email is in the audit table`);
      assert.ok(!text.includes(c.card_number), `customer ${c.id}'s card number is in the audit table`);
      assert.ok(!text.includes(c.ssn), `customer ${c.id}'s SSN is in the audit table`);
    }

    const { code, lines } = await cli(sessionsCommand, ['replay', sessionId, '--token', auditor]);
    assert.equal(code, 0);
    assert.match(lines[0]!, new RegExp(`^session ${sessionId}: agent-1 \\(analysts\\) on demo via pgwire from 127\\.0\\.0\\.1:\\d+, opened \\d{4}-`));
    assert.match(
      lines[1]!,
      new RegExp(`^\\+\\d+\\.\\d{3}s  agent-1@demo  ${select}  → allow \\(rule analysts-read\\) → SELECT 50 rows, ${completed.maskedCells} masked cells in \\d+ ms$`),
    );
    assert.match(lines[2]!, /^ {4}id +\| name +\| email +\| phone +\| card_number +\| ssn +\| notes$/);
    const table = lines.slice(4, 4 + customers.length);
    assert.equal(table.length, customers.length);
    for (const [i, c] of customers.entries()) {
      const cells = table[i]!.trim().split(' | ').map((x) => x.trim());
      assert.equal(cells[0], String(c.id));
      assert.equal(cells[2], `***@${c.email.split('@')[1]}`);
      assert.equal(cells[4], `************${c.card_number.slice(-4)}`);
      assert.equal(cells[5], '[REDACTED]');
    }
    const output = lines.join('\n');
    for (const c of customers) {
      assert.ok(!output.includes(c.email) && !output.includes(c.card_number) && !output.includes(c.ssn), `a clear value of customer ${c.id} was replayed`);
    }
    assert.match(
      lines[4 + customers.length]!,
      /^\+\d+\.\d{3}s  agent-1@demo  DROP TABLE orders  → deny \(rule refuse-ddl\) → failed 42501 policy\.denied: Airlock refused this statement \(rule "refuse-ddl"\): DDL and GRANT are not allowed through Airlock; ask a DBA to make schema changes in \d+ ms$/,
    );
    assert.match(lines[5 + customers.length]!, /^\+\d+\.\d{3}s  agent-1@demo  session closed \(client-terminated\), 2 statements$/);
    assert.equal(lines.length, 6 + customers.length);

    // the HTTP replay is the same transcript; the JSON has the recorded result, untruncated
    const replay = await fetch(`${base}/v1/sessions/${sessionId}/replay`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(replay.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await replay.text(), `${output}\n`);
    const detail = (await (await fetch(`${base}/v1/sessions/${sessionId}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as any;
    assert.equal(detail.statements.length, 2);
    assert.deepEqual(detail.statements[0].result.columns, ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes']);
    assert.equal(detail.statements[0].result.rows.length, customers.length);
    assert.equal(detail.statements[0].result.truncated, false);
    assert.deepEqual(detail.statements[0].tables, ['public.customers']);
    assert.deepEqual(detail.statements[1].decision, {
      outcome: 'deny',
      rule: 'refuse-ddl',
      reason: 'DDL and GRANT are not allowed through Airlock; ask a DBA to make schema changes',
      code: 'policy.denied',
    });
    assert.equal(detail.statements[1].outcome, 'failed');
    const missing = await fetch(`${base}/v1/sessions/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'audit.not_found');
  });

  it('searches sessions by principal, connection, table, decision, outcome and time', async () => {
    const reader = await t.token({ subject: 'reader-9', groups: ['pii-readers'] });
    const readerSession = await session(reader, ['SELECT id, total FROM orders WHERE id = 2']);
    const search = async (query: string) => {
      const res = await fetch(`${base}/v1/sessions?${query}`, { headers: { authorization: `Bearer ${auditor}` } });
      assert.equal(res.status, 200, query);
      return ((await res.json()) as { sessions: Array<{ sessionId: string; principal: { subject: string } }> }).sessions;
    };
    const ids = async (query: string) => (await search(query)).map((s) => s.sessionId);
    const all = await search('');
    assert.ok(all.length >= 2);
    assert.equal(all[0]!.sessionId, readerSession, 'newest first');
    const analystSessions = all.filter((s) => s.principal.subject === 'agent-1').map((s) => s.sessionId);
    assert.deepEqual(await ids('principal=reader-9'), [readerSession]);
    assert.deepEqual(await ids('principal=agent-1'), analystSessions);
    assert.deepEqual(await ids('principal=nobody'), []);
    assert.deepEqual(await ids('connection=demo'), all.map((s) => s.sessionId));
    assert.deepEqual(await ids('connection=warehouse'), []);
    assert.deepEqual(await ids('table=orders&principal=reader-9'), [readerSession]);
    assert.deepEqual(await ids('table=public.customers&principal=reader-9'), []);
    assert.ok((await ids('table=CUSTOMERS')).length >= 1);
    assert.deepEqual(await ids('decision=deny&principal=reader-9'), []);
    assert.ok((await ids('decision=deny')).every((id) => analystSessions.includes(id)));
    assert.deepEqual(await ids('outcome=completed&principal=reader-9'), [readerSession]);
    assert.deepEqual(await ids('outcome=failed&principal=reader-9'), []);
    assert.deepEqual(await ids(`from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);
    assert.deepEqual(await ids(`to=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`), []);
    assert.ok((await ids(`from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&principal=reader-9`)).includes(readerSession));
    const bad = await fetch(`${base}/v1/sessions?decision=maybe`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { code: 'runtime.invalid_request', message: 'decision must be one of: allow, deny, approval-required' });

    const { code, lines } = await cli(sessionsCommand, ['list', '--principal', 'reader-9', '--token', auditor]);
    assert.equal(code, 0);
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      new RegExp(`^${readerSession}  \\d{4}-\\S+  reader-9@demo  pgwire  1 statements: 1 completed, 0 failed, 0 denied, 0 masked cells  closed \\(client-terminated\\)  tables public\\.orders$`),
    );
    assert.equal(lines[1], '1 session');
  });

  it('follows the audit log live with audit tail', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const running = auditCommand(['tail', '-n', '3', '--interval', '100', '--token', auditor], env, (l) => lines.push(l), { signal: stop.signal });
    await eventually(async () => (lines.length >= 3 ? true : undefined));
    assert.equal(lines.length, 3);
    const sessionId = await session(analyst, ['SELECT id FROM orders WHERE id = 4']);
    const line = await eventually(async () => lines.find((l) => l.includes('proxy.v1.session-closed') && l.includes(sessionId)), 10_000, 'the tail to show the new session');
    assert.match(line, /^#\d+  \d{4}-\S+  proxy\.v1\.session-closed  session=/);
    assert.ok(lines.some((l) => /  policy\.v1\.decided  agent-1  @demo  session=\S+  request=\S+  allow \(rule analysts-read\)  "SELECT id FROM orders WHERE id = 4"$/.test(l)));
    stop.abort();
    assert.equal(await running, 0);
    const seqs = lines.map((l) => Number(/^#(\d+)/.exec(l)![1]));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in chain order');
    assert.equal(new Set(seqs).size, seqs.length, 'no event twice');
  });

  it('lets a SIEM read every event of a session from its own durable consumer, each valid against its documented schema', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = streamName(t.root);
    await jsm.consumers.add(stream, { durable_name: 'siem-test', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: `${t.root}.evt.>` });
    const sessionId = await session(analyst, ['SELECT id, email FROM customers WHERE id = 3']);
    const consumer = await jetstream(nc).consumers.get(stream, 'siem-test');
    const validator = new Validator();
    const bySubject = new Map(allEvents.map((d) => [eventSubject(t.root, d), d]));
    const mine: Array<{ type: string; payload: any }> = [];
    let seen = 0;
    await eventually(
      async () => {
        const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
        for await (const m of batch) {
          seen += 1;
          const d = bySubject.get(m.subject);
          assert.ok(d, `${m.subject} is not a documented subject`);
          const payload = m.json<Record<string, unknown>>();
          assert.ok(validator.check(d.payload, payload), `${m.subject} does not match its schema`);
          assert.equal(m.headers?.get('Nats-Msg-Id'), payload['id']);
          if (payload['sessionId'] === sessionId) mine.push({ type: `${d.family}.${d.version}.${d.event}`, payload });
          m.ack();
        }
        return mine.some((e) => e.type === 'proxy.v1.session-closed') && mine.some((e) => e.type === 'credential.v1.revoked') ? true : undefined;
      },
      15_000,
      'the session on the SIEM consumer',
    );
    // a read's start is recorded only when it runs longer than 50 ms (or streams): otherwise its end is its record
    const types = mine.map((e) => e.type).filter((type) => type !== 'proxy.v1.query-started');
    assert.deepEqual(types.slice(0, 5), ['identity.v1.token-verified', 'proxy.v1.session-opened', 'policy.v1.decided', 'credential.v1.issued', 'proxy.v1.query-completed']);
    // the session's end and its lease's revocation come from two services, each publishing on its own connection
    // (credential records the revocation without holding up the proxy): the stream may hold them in either order
    assert.deepEqual(types.slice(5).sort(), ['credential.v1.revoked', 'proxy.v1.session-closed']);
    const completedAt = mine.findIndex((e) => e.type === 'proxy.v1.query-completed');
    assert.ok(mine.findIndex((e) => e.type === 'proxy.v1.query-started') <= completedAt);
    // what the SIEM got is what the audit table recorded
    const recorded = await rows('session_id = $1', [sessionId]);
    assert.deepEqual(mine.map((e) => e.payload), recorded.map((r) => r.payload));
    assert.ok(seen > mine.length);
    assert.equal(mine[completedAt]!.payload.result.rows[0][1], `***@${customers[2]!.email.split('@')[1]}`);
  });

  it('forwards events as OCSF JSON to a webhook with retries, without ever holding up the audit table', async () => {
    webhook.hang = true;
    const sessionId = await session(analyst, ['SELECT id FROM orders WHERE id = 5']);
    // recorded although the webhook answers nothing
    const recorded = await rows('session_id = $1', [sessionId]);
    assert.equal(recorded.at(-1)!.event_type, 'proxy.v1.session-closed');
    assert.equal(webhook.accepted.filter((e) => e.actor?.session?.uid === sessionId).length, 0);

    webhook.failNext = 3;
    webhook.hang = false;
    const forwarded = await eventually(
      async () => {
        const mine = webhook.accepted.filter((e) => e.unmapped.event.sessionId === sessionId);
        return mine.length === recorded.length ? mine : undefined;
      },
      20_000,
      'the session at the webhook',
    );
    assert.equal(webhook.refused, 3);
    assert.deepEqual(forwarded.map((e) => e.unmapped.event), recorded.map((r) => r.payload));
    const ids = webhook.accepted.map((e) => e.metadata.uid);
    assert.equal(new Set(ids).size, ids.length, 'each event delivered once');
    // a read's start is recorded only when it runs longer than 50 ms: its mapping is checked when it is there
    const started = forwarded.find((e) => e.unmapped.subject.endsWith('.proxy.v1.query-started'));
    const [verified, opened, decided, issued, completed, revoked, closed] = forwarded.filter((e) => e !== started);
    const completedRecord = recorded.find((r) => r.event_type === 'proxy.v1.query-completed')!;
    assert.equal(verified.class_uid, 3002);
    assert.equal(verified.status, 'Success');
    assert.equal(opened.class_uid, 6005);
    assert.equal(opened.activity_id, 3);
    assert.equal(opened.type_uid, 600503);
    assert.equal(opened.status, 'Success');
    assert.deepEqual(opened.actor, { user: { uid: 'agent-1', name: 'agent-1', groups: [{ name: 'analysts' }] }, session: { uid: sessionId } });
    assert.deepEqual(opened.src_endpoint, { ip: '127.0.0.1' });
    assert.equal(opened.time, Date.parse(recorded[1]!.payload.time));
    assert.equal(opened.unmapped.subject, `${t.root}.evt.proxy.v1.session-opened`);
    assert.match(decided.status_detail, /^allow: /);
    assert.equal(issued.class_uid, 3001);
    assert.equal(issued.activity_name, 'Create');
    if (started) assert.deepEqual([started.activity_name, started.status_detail], ['Query', 'started']);
    assert.equal(completed.activity_name, 'Query');
    assert.equal(completed.status_id, 1);
    assert.equal(completed.status_detail, 'SELECT 1');
    assert.equal(completed.metadata.correlation_uid, completedRecord.payload.requestId);
    // the principal is remembered from the session's opening for events that do not name it
    assert.equal(completed.actor.user.uid, 'agent-1');
    assert.equal(revoked.activity_name, 'Delete');
    assert.equal(closed.activity_name, 'Disconnect');
  });
});
