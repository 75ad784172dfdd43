import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startService, type RunningService } from '@airlock/runtime';
import { service as approvalService } from '../../src/definition.js';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { approvalsCommand } from '../../../../packages/cli/src/commands/approvals.js';
import { Front, Receiver, api, rejectsWith, stateQuery } from './helpers.js';

// the approval API takes tokens made for its own audience only
const approvalAud = 'http://127.0.0.1:8081';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('approval workflow: bus, HTTP API, grants, webhooks, restart', () => {
  let t: TestStack;
  let front: Front;
  let hooks: Receiver;
  let failing: Receiver;
  let port: number;
  let restarted: RunningService | undefined;
  let agent: string;
  let dba1: string;
  let dba2: string;
  let analyst2: string;

  before(async () => {
    hooks = await Receiver.start();
    failing = await Receiver.start();
    failing.answer = () => 500;
    t = await startTestStack({
      env: {
        AIRLOCK_APPROVAL_SWEEP_MS: '200',
        AIRLOCK_APPROVAL_DELIVERY_ATTEMPTS: '3',
        AIRLOCK_APPROVAL_DELIVERY_BACKOFF_MS: '1000',
      },
      configure: (c) => {
        c['policies'].unshift({
          name: 'customer-updates-need-two-dbas',
          groups: ['analysts'],
          kinds: ['update'],
          tables: ['customers'],
          decision: 'approval',
          approvers: ['dba'],
          quorum: 2,
          role: 'writer',
        });
        c['policies'].unshift({
          name: 'customer-deletes-need-dba',
          groups: ['analysts'],
          kinds: ['delete'],
          tables: ['customers'],
          decision: 'approval',
          approvers: ['dba'],
          quorum: 1,
          role: 'writer',
        });
        c['approval'] = {
          ttlSeconds: 900,
          oneShotSeconds: 600,
          maxWindowSeconds: 7200,
          webhooks: [
            { url: hooks.url('/json'), format: 'json' },
            { url: hooks.url('/slack'), format: 'slack' },
            { url: failing.url('/hook'), format: 'json' },
          ],
        };
      },
    });
    port = t.ports['approval']!;
    front = await Front.connect(t);
    agent = await t.token({ subject: 'agent-1', groups: ['analysts'], email: 'agent-1@example.com' });
    dba1 = await t.token({ subject: 'dba-1', groups: ['dba'], audience: approvalAud });
    dba2 = await t.token({ subject: 'dba-2', groups: ['dba'], audience: approvalAud });
    analyst2 = await t.token({ subject: 'analyst-2', groups: ['analysts'], audience: approvalAud });
  });
  after(async () => {
    await front?.close();
    await restarted?.close();
    await t?.close();
    await hooks?.close();
    await failing?.close();
  });

  it('submit holds a statement as pending, and finds the same open request again', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 1', { justification: 'duplicate order from the import' });
    assert.equal(req.rule, 'orders-writes-need-dba');
    const first = await front.submit(req);
    assert.match(first.approvalId, uuid);
    assert.deepEqual({ ...first, expiresAt: undefined }, { approvalId: first.approvalId, state: 'pending', approvals: 0, quorum: 1, expiresAt: undefined });
    const again = await front.submit(req);
    assert.equal(again.approvalId, first.approvalId);
    assert.deepEqual(await front.status(first.approvalId), first);
    assert.equal(await rejectsWith(front.status('00000000-0000-4000-8000-000000000000')), 'approval.not_found');
    assert.equal(await rejectsWith(front.status('not-a-uuid')), 'approval.not_found');

    const view = await api(port, 'GET', `/v1/approvals/${first.approvalId}`, dba1);
    assert.equal(view.status, 200);
    assert.deepEqual(
      { ...view.body, createdAt: undefined, expiresAt: undefined },
      {
        approvalId: first.approvalId,
        state: 'pending',
        requester: { subject: 'agent-1', issuer: req.principal.issuer, email: 'agent-1@example.com', groups: ['analysts'] },
        connection: 'demo',
        sql: 'DELETE FROM orders WHERE id = 1',
        fingerprint: req.fingerprint,
        kind: 'delete',
        tables: ['public.orders'],
        rule: 'orders-writes-need-dba',
        justification: 'duplicate order from the import',
        approverGroups: ['dba'],
        quorum: 1,
        approvals: 0,
        votes: [],
        createdAt: undefined,
        expiresAt: undefined,
      },
    );
    const list = await api(port, 'GET', '/v1/approvals?state=pending', dba1);
    assert.deepEqual(list.body.approvals.map((a: { approvalId: string }) => a.approvalId), [first.approvalId]);
    const agentAtApi = await t.token({ subject: 'agent-1', groups: ['analysts'], email: 'agent-1@example.com', audience: approvalAud });
    const own = await api(port, 'GET', '/v1/approvals', agentAtApi);
    // the agent's database token does not open the approval API
    const databaseToken = await api(port, 'GET', '/v1/approvals', agent);
    assert.deepEqual([databaseToken.status, databaseToken.body.code], [401, 'identity.audience_mismatch']);
    assert.match(databaseToken.body.message, /^the approval API takes tokens issued for audience http:\/\/127\.0\.0\.1:8081, /);
    assert.deepEqual(own.body.approvals.map((a: { approvalId: string }) => a.approvalId), [first.approvalId]);
    const other = await api(port, 'GET', '/v1/approvals', analyst2);
    assert.deepEqual(other.body, { approvals: [] });
    // another principal hears what an unknown id gets: not that the request exists, nor who decides it
    const peek = await api(port, 'GET', `/v1/approvals/${first.approvalId}`, analyst2);
    const unknown = await api(port, 'GET', '/v1/approvals/00000000-0000-4000-8000-000000000000', analyst2);
    assert.deepEqual([peek.status, peek.body.code], [404, 'approval.not_found']);
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'approval.not_found']);
    assert.equal(peek.body.message, `no approval request ${first.approvalId}`);
  });

  it('sends the JSON and the Slack-shaped messages to the webhooks, and keeps retrying a failing one without harm', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 1');
    const { approvalId } = await front.submit(req);
    const json = await eventually(async () => hooks.received.find((m) => m.path === '/json' && m.body.approvalId === approvalId)?.body, 10_000, 'json webhook');
    const slack = await eventually(async () => hooks.received.find((m) => m.path === '/slack' && m.body.text.includes(approvalId))?.body, 10_000, 'slack webhook');
    const base = `http://127.0.0.1:${port}/v1/approvals/${approvalId}`;
    assert.deepEqual(
      { ...json, expiresAt: undefined },
      {
        type: 'approval.requested',
        approvalId,
        state: 'pending',
        requester: { subject: 'agent-1', issuer: req.principal.issuer, email: 'agent-1@example.com' },
        connection: 'demo',
        kind: 'delete',
        sql: 'DELETE FROM orders WHERE id = 1',
        tables: ['public.orders'],
        rule: 'orders-writes-need-dba',
        justification: 'duplicate order from the import',
        approverGroups: ['dba'],
        quorum: 1,
        // how many bind parameters the grant is bound to, never their values
        boundParameters: 0,
        expiresAt: undefined,
        approve: { cli: `npx airlock approvals approve ${approvalId}`, url: `${base}/approve` },
        deny: { cli: `npx airlock approvals deny ${approvalId} --reason "<why>"`, url: `${base}/deny` },
        url: base,
      },
    );
    assert.equal(
      slack.text,
      `Approval needed: agent-1 (agent-1@example.com) wants to run DELETE on demo (public.orders), rule orders-writes-need-dba. Approval ${approvalId}.`,
    );
    const blocks = slack.blocks as Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }> }>;
    assert.deepEqual(blocks.map((b) => b.type), ['header', 'section', 'section', 'section', 'section', 'context']);
    assert.deepEqual(blocks[1]!.fields!.slice(0, 4).map((f) => f.text), [
      '*Who*\nagent-1 (agent-1@example.com)',
      '*Connection*\ndemo',
      '*Tables*\npublic.orders',
      '*Rule*\norders-writes-need-dba',
    ]);
    assert.equal(blocks[2]!.text!.text, '*SQL*\n```DELETE FROM orders WHERE id = 1```');
    assert.equal(blocks[3]!.text!.text, '*Why*\nduplicate order from the import');
    assert.ok(blocks[4]!.text!.text.includes(`\`npx airlock approvals approve ${approvalId}\``));
    assert.ok(blocks[4]!.text!.text.includes(`POST ${base}/approve`));

    // the failing webhook: three attempts, each recorded, then given up; the request was never held back by it
    const rows = await eventually(
      async () => {
        const r = await stateQuery<{ id: string; state: string; attempts: number; last_status: number; last_error: string }>(
          t,
          `SELECT id, state, attempts, last_status, last_error FROM approval_outbox WHERE target = $1 AND payload->>'approvalId' = $2`,
          [failing.url('/hook'), approvalId],
        );
        return r[0]?.state === 'failed' ? r : undefined;
      },
      15_000,
      'the failing webhook to give up',
    );
    assert.deepEqual(rows.map((r) => [r.state, r.attempts, r.last_status, r.last_error]), [['failed', 3, 500, 'HTTP 500']]);
    const attempts = await stateQuery<{ attempt: number; status: number; error: string }>(
      t,
      'SELECT attempt, status, error FROM approval_delivery_attempts WHERE outbox_id = $1 ORDER BY attempt',
      [rows[0]!.id],
    );
    assert.deepEqual(attempts, [1, 2, 3].map((attempt) => ({ attempt, status: 500, error: 'HTTP 500' })));
    assert.equal((await front.status(approvalId)).state, 'pending');
    assert.ok(t.logs.text().includes('approval webhook gave up after its last attempt'));
    assert.ok(!t.logs.text().includes('/hook'), 'webhook paths (often secrets) are not logged');
  });

  it('approve by a dba grants a one-shot grant that the next submit consumes exactly once', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 1');
    const { approvalId } = await front.submit(req);
    const approved = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba1, { reason: 'checked the duplicate' });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.vote, 'recorded');
    assert.equal(approved.body.approval.state, 'granted');
    assert.equal(approved.body.approval.approvals, 1);
    assert.deepEqual(
      approved.body.approval.votes.map((v: any) => ({ ...v, at: undefined })),
      [{ approver: { subject: 'dba-1', issuer: req.principal.issuer }, decision: 'approve', reason: 'checked the duplicate', at: undefined }],
    );
    const status = await front.status(approvalId);
    assert.deepEqual([status.state, status.approvals, status.quorum], ['granted', 1, 1]);

    // a changed statement is not covered by the one-shot grant
    const changed = await front.submit(await front.held(agent, 'DELETE FROM orders WHERE id = 2'));
    assert.equal(changed.state, 'pending');
    assert.notEqual(changed.approvalId, approvalId);
    // the same statement, spaced differently, has the same fingerprint: two submits at once, one wins
    const same = await front.held(agent, 'delete   from orders where id = 1;');
    assert.equal(same.fingerprint, req.fingerprint);
    const [a, b] = await Promise.all([front.submit(same), front.submit(same)]);
    const states = [a.state, b.state].sort();
    assert.deepEqual(states, ['granted', 'pending']);
    assert.equal([a, b].find((s) => s.state === 'granted')!.approvalId, approvalId);
    const third = await front.submit(req);
    assert.equal(third.state, 'pending');
    assert.notEqual(third.approvalId, approvalId);
    const used = await stateQuery<{ n: string }>(t, `SELECT count(*) AS n FROM approval_grants WHERE approval_id = $1 AND used_at IS NOT NULL`, [approvalId]);
    assert.equal(used[0]!.n, '1');
    // the decided message reaches the webhooks too
    const decided = await eventually(async () => hooks.received.find((m) => m.path === '/json' && m.body.type === 'approval.decided' && m.body.approvalId === approvalId)?.body);
    assert.deepEqual([decided.state, decided.approver.subject, decided.reason], ['granted', 'dba-1', 'checked the duplicate']);
    // a decided request cannot change
    const late = await api(port, 'POST', `/v1/approvals/${approvalId}/deny`, dba2, { reason: 'too late' });
    assert.deepEqual([late.status, late.body.code], [409, 'approval.already_decided']);
  });

  it('deny needs a reason, and then the request is denied with it', async () => {
    const { approvalId } = await front.submit(await front.held(agent, 'DELETE FROM orders WHERE id = 3'));
    for (const body of [{}, { reason: '   ' }]) {
      const refused = await api(port, 'POST', `/v1/approvals/${approvalId}/deny`, dba1, body);
      assert.deepEqual([refused.status, refused.body.code], [400, 'approval.reason_required']);
    }
    assert.equal((await front.status(approvalId)).state, 'pending');
    const denied = await api(port, 'POST', `/v1/approvals/${approvalId}/deny`, dba1, { reason: 'order 3 is under audit' });
    assert.equal(denied.status, 200);
    assert.deepEqual([denied.body.approval.state, denied.body.approval.reason], ['denied', 'order 3 is under audit']);
    const status = await front.status(approvalId);
    assert.deepEqual([status.state, status.reason], ['denied', 'order 3 is under audit']);
    const again = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba2, {});
    assert.deepEqual([again.status, again.body.code], [409, 'approval.already_decided']);
  });

  it('refuses self-approval, non-approvers and callers without a valid token', async () => {
    const dbaAgent = await t.token({ subject: 'agent-9', groups: ['analysts', 'dba'] });
    const { approvalId } = await front.submit(await front.held(dbaAgent, 'DELETE FROM orders WHERE id = 9'));
    const dbaAgentAtApi = await t.token({ subject: 'agent-9', groups: ['analysts', 'dba'], audience: approvalAud });
    const self = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dbaAgentAtApi, {});
    assert.deepEqual([self.status, self.body.code], [403, 'approval.self_approval']);
    const selfDeny = await api(port, 'POST', `/v1/approvals/${approvalId}/deny`, dbaAgentAtApi, { reason: 'mine' });
    assert.deepEqual([selfDeny.status, selfDeny.body.code], [403, 'approval.self_approval']);
    const outsider = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, analyst2, {});
    assert.deepEqual([outsider.status, outsider.body.code], [403, 'approval.not_approver']);
    assert.match(outsider.body.message, /one of the groups: dba/);
    const none = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, undefined, {});
    assert.deepEqual([none.status, none.body.code], [401, 'identity.missing_token']);
    const bad = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, 'not-a-jwt', {});
    assert.deepEqual([bad.status, bad.body.code], [401, 'identity.invalid_token']);
    const expiredToken = await t.token({ subject: 'dba-1', groups: ['dba'], ttlSeconds: -120, audience: approvalAud });
    const old = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, expiredToken, {});
    assert.deepEqual([old.status, old.body.code], [401, 'identity.expired_token']);
    const unknown = await api(port, 'POST', '/v1/approvals/00000000-0000-4000-8000-000000000000/approve', dba1, {});
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'approval.not_found']);
    assert.deepEqual({ ...(await front.status(approvalId)), expiresAt: undefined }, { approvalId, state: 'pending', approvals: 0, quorum: 1, expiresAt: undefined });
  });

  it('needs a quorum of two distinct approvers; the same approver twice counts once', async () => {
    const req = await front.held(agent, "UPDATE customers SET name = 'Ada' WHERE id = 1");
    assert.deepEqual([req.rule, req.quorum], ['customer-updates-need-two-dbas', 2]);
    const { approvalId } = await front.submit(req);
    // no body at all is a plain one-shot approval
    const one = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba1);
    assert.deepEqual([one.body.vote, one.body.approval.state, one.body.approval.approvals], ['recorded', 'pending', 1]);
    const twice = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba1, {});
    assert.deepEqual([twice.status, twice.body.vote, twice.body.approval.state, twice.body.approval.approvals], [200, 'already_recorded', 'pending', 1]);
    assert.deepEqual([(await front.status(approvalId)).state, (await front.status(approvalId)).approvals], ['pending', 1]);
    assert.equal((await front.submit(req)).state, 'pending');
    const two = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba2, { reason: 'second pair of eyes' });
    assert.deepEqual([two.body.vote, two.body.approval.state, two.body.approval.approvals], ['recorded', 'granted', 2]);
    assert.deepEqual(two.body.approval.votes.map((v: { approver: { subject: string } }) => v.approver.subject), ['dba-1', 'dba-2']);
    assert.equal((await front.submit(req)).state, 'granted');
  });

  it('a time-window grant covers other statements of the same scope, and nothing outside it', async () => {
    const req = await front.held(agent, 'DELETE FROM orders WHERE id = 5');
    const { approvalId } = await front.submit(req);
    for (const [window, message] of [
      ['3h', /at most 2h \(7200 s\)/],
      ['soon', /number of seconds or a duration/],
    ] as const) {
      const refused = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba1, { for: window });
      assert.deepEqual([refused.status, refused.body.code], [400, 'approval.invalid_window']);
      assert.match(refused.body.message, message);
    }
    const approved = await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba1, { for: '1h' });
    assert.deepEqual([approved.body.approval.state, approved.body.approval.windowSeconds], ['granted', 3600]);
    const grant = await stateQuery<{ kind: string; secs: number }>(
      t,
      `SELECT kind, round(extract(epoch FROM expires_at - created_at))::int AS secs FROM approval_grants WHERE approval_id = $1`,
      [approvalId],
    );
    assert.deepEqual(grant, [{ kind: 'window', secs: 3600 }]);
    // the same scope (principal, connection, kind, tables): granted, and not consumed
    for (const sql of ['DELETE FROM orders WHERE id = 5', 'DELETE FROM orders WHERE id = 6', 'DELETE FROM orders WHERE total > 1000']) {
      const s = await front.submit(await front.held(agent, sql));
      assert.deepEqual([sql, s.state, s.approvalId], [sql, 'granted', approvalId]);
    }
    // another kind, another table, another principal: a new request each
    const otherKind = await front.submit(await front.held(agent, 'UPDATE orders SET total = 0 WHERE id = 6'));
    assert.equal(otherKind.state, 'pending');
    const otherTable = await front.submit(
      await front.held(agent, 'DELETE FROM customers WHERE id = 6'),
    );
    assert.equal(otherTable.state, 'pending');
    const agent2 = await t.token({ subject: 'agent-2', groups: ['analysts'] });
    assert.equal((await front.submit(await front.held(agent2, 'DELETE FROM orders WHERE id = 6'))).state, 'pending');
  });

  it('records every transition as an event in the audit log, with the approver identity', async () => {
    // another requester: agent-1 holds a time-window grant for deletes on orders by now
    const agent3 = await t.token({ subject: 'agent-3', groups: ['analysts'] });
    const req = await front.held(agent3, 'DELETE FROM orders WHERE id = 7');
    const { approvalId } = await front.submit(req);
    await api(port, 'POST', `/v1/approvals/${approvalId}/approve`, dba2, { reason: 'fine' });
    await front.submit(req);
    const rows = await eventually(
      async () => {
        const r = await stateQuery<{ event_type: string; payload: any }>(
          t,
          `SELECT event_type, payload FROM audit_events WHERE payload->>'approvalId' = $1 ORDER BY seq`,
          [approvalId],
        );
        return r.length >= 3 ? r : undefined;
      },
      10_000,
      'audit events',
    );
    assert.deepEqual(rows.map((r) => r.event_type), ['approval.v1.requested', 'approval.v1.decided', 'approval.v1.grant-used']);
    assert.deepEqual([rows[0]!.payload.sql, rows[0]!.payload.principal.subject, rows[0]!.payload.kind], ['DELETE FROM orders WHERE id = 7', 'agent-3', 'delete']);
    const decided = rows[1]!.payload;
    assert.deepEqual([decided.state, decided.approver.subject, decided.approver.issuer, decided.reason, decided.approvals, decided.quorum, decided.grant.kind], [
      'granted',
      'dba-2',
      req.principal.issuer,
      'fine',
      1,
      1,
      'one-shot',
    ]);
    assert.equal(rows[2]!.payload.kind, 'one-shot');
  });

  it('the CLI lists, shows, approves for a window and denies, with clear refusals and exit codes', async () => {
    const cli = async (args: string[], token?: string) => {
      const lines: string[] = [];
      const code = await approvalsCommand(args, { AIRLOCK_APPROVAL_URL: `http://127.0.0.1:${port}`, ...(token ? { AIRLOCK_TOKEN: token } : {}) }, (l) => lines.push(l));
      return { code, text: lines.join('\n') };
    };
    const agent5 = await t.token({ subject: 'agent-5', groups: ['analysts'] });
    const one = await front.submit(await front.held(agent5, 'DELETE FROM orders WHERE id = 11', { justification: 'cleanup' }));
    const two = await front.submit(await front.held(agent5, 'DELETE FROM orders WHERE id = 12'));

    const list = await cli(['list'], dba2);
    assert.equal(list.code, 0);
    assert.ok(list.text.includes(`${one.approvalId}  pending   0/1  agent-5  demo  delete  public.orders  expires `), list.text);
    assert.ok(list.text.includes(two.approvalId));
    const shown = await cli(['show', one.approvalId], dba2);
    assert.equal(shown.code, 0);
    assert.ok(shown.text.includes('sql        DELETE FROM orders WHERE id = 11'));
    assert.ok(shown.text.includes('why        cleanup'));

    const approved = await cli(['approve', one.approvalId, '--for', '30m', '--reason', 'cleanup week'], dba2);
    assert.deepEqual(approved, { code: 0, text: `granted ${one.approvalId}: agent-5 may run delete on public.orders (demo) for 1800 s` });
    const denyNoReason = await cli(['deny', two.approvalId], dba2);
    assert.equal(denyNoReason.code, 2);
    assert.match(denyNoReason.text, /^a denial needs --reason/);
    // the time window granted above already covers the second statement's scope, but its request stays pending until decided
    const denied = await cli(['deny', two.approvalId, '--reason', 'use the window'], dba2);
    assert.deepEqual(denied, { code: 0, text: `denied ${two.approvalId}: use the window` });

    const again = await cli(['approve', one.approvalId], dba1);
    assert.deepEqual(again, { code: 1, text: `refused: approval request ${one.approvalId} is already granted; it cannot change [approval.already_decided]` });
    const three = await front.submit(await front.held(agent5, 'UPDATE orders SET total = 1 WHERE id = 12'));
    const self = await cli(['approve', three.approvalId], await t.token({ subject: 'agent-5', groups: ['analysts'], audience: approvalAud }));
    assert.deepEqual(self, { code: 1, text: 'refused: nobody may approve or deny their own request; ask another approver [approval.self_approval]' });
    const databaseToken = await cli(['list'], agent5);
    assert.deepEqual(databaseToken, {
      code: 1,
      text:
        'refused: the approval API takes tokens issued for audience http://127.0.0.1:8081, and this token was issued for another; request a token for http://127.0.0.1:8081 [identity.audience_mismatch]\n' +
        'the approval API needs a token for audience http://127.0.0.1:8081: ask your identity provider for one (in the demo: airlock token --sub <you> --groups <groups> --aud http://127.0.0.1:8081)',
    });
    const outsider = await cli(['approve', three.approvalId], analyst2);
    assert.deepEqual(outsider, { code: 1, text: 'refused: deciding this request needs membership of one of the groups: dba [approval.not_approver]' });
    const tooLong = await cli(['approve', three.approvalId, '--for', '9h'], dba1);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.text, /^refused: the window may be at most 2h \(7200 s\); ask for a shorter one \[approval.invalid_window\]$/);
    const noToken = await cli(['list']);
    assert.equal(noToken.code, 2);
    assert.match(noToken.text, /^your own token is required: --token <jwt> or AIRLOCK_TOKEN/);
    const badToken = await cli(['list'], 'not-a-jwt');
    assert.equal(badToken.code, 1);
    assert.match(badToken.text, /^refused: .+ \[identity.invalid_token\]$/);
    assert.equal((await cli(['frobnicate'], dba1)).code, 2);
    assert.equal((await cli(['approve'], dba1)).code, 2);
    const down = await approvalsCommand(['list'], { AIRLOCK_APPROVAL_URL: 'http://127.0.0.1:9', AIRLOCK_TOKEN: dba1 }, () => undefined);
    assert.equal(down, 3);
  });

  it('survives a restart of the approval service while a request is pending, and delivers what was waiting', async () => {
    hooks.answer = () => 503;
    const agent4 = await t.token({ subject: 'agent-4', groups: ['analysts'] });
    const req = await front.held(agent4, 'DELETE FROM orders WHERE id = 8');
    const { approvalId } = await front.submit(req);
    const message = async () =>
      (
        await stateQuery<{ state: string; attempts: number; last_status: number }>(
          t,
          `SELECT state, attempts, last_status FROM approval_outbox WHERE target = $1 AND payload->>'type' = 'approval.requested' AND payload->>'approvalId' = $2`,
          [hooks.url('/json'), approvalId],
        )
      )[0];
    await eventually(async () => ((await message())?.last_status === 503 ? true : undefined), 10_000, 'a first failed delivery');
    const approval = t.stack.services.find((s) => s.name === 'approval')!;
    await approval.close();
    assert.deepEqual(await message(), { state: 'pending', attempts: 1, last_status: 503 });
    assert.equal(await rejectsWith(front.status(approvalId)), 'runtime.unavailable');
    hooks.answer = () => 200;
    restarted = await startService(approvalService, { ...t.env, AIRLOCK_APPROVAL_PORT: '0' }, { config: t.stack.config, logger: t.logger });
    const newPort = restarted.ports['approval']!;
    assert.equal((await front.status(approvalId)).state, 'pending');
    // the message that failed before the restart is delivered by the new copy
    await eventually(async () => hooks.received.find((m) => m.path === '/json' && m.body.approvalId === approvalId), 10_000, 'webhook after restart');
    assert.deepEqual(await eventually(async () => ((await message())?.state === 'delivered' ? message() : undefined)), { state: 'delivered', attempts: 2, last_status: 200 });
    const approved = await api(newPort, 'POST', `/v1/approvals/${approvalId}/approve`, dba1, {});
    assert.equal(approved.body.approval.state, 'granted');
    assert.equal((await front.submit(req)).state, 'granted');
    assert.equal((await front.submit(req)).state, 'pending');
  });
});
