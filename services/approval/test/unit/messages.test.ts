import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { approvalV1 } from '@airlock/contracts';
import { decidedJson, decidedSlack, escapeMrkdwn, howToDecide, requestedJson, requestedSlack } from '../../src/messages.js';

const id = '0b7d5f0e-1111-4222-8333-444455556666';
const view: approvalV1.ApprovalView = {
  approvalId: id,
  state: 'pending',
  requester: { subject: 'agent-1', issuer: 'https://idp', email: 'agent@example.com', groups: ['analysts'] },
  connection: 'demo',
  sql: 'DELETE FROM orders WHERE note = \'<b>&\'',
  fingerprint: 'abc',
  kind: 'delete',
  tables: ['public.orders'],
  rule: 'orders-writes-need-dba',
  justification: 'duplicate order #1 <from> the import',
  approverGroups: ['dba'],
  quorum: 1,
  approvals: 0,
  votes: [],
  createdAt: '2025-01-01T12:00:00.000Z',
  expiresAt: '2025-01-01T12:15:00.000Z',
};
const how = howToDecide('http://127.0.0.1:8081/', id);

describe('messages', () => {
  test('how to decide: CLI lines and API URLs', () => {
    assert.deepEqual(how, {
      approveCommand: `npx airlock approvals approve ${id}`,
      approveForCommand: `npx airlock approvals approve ${id} --for 1h`,
      denyCommand: `npx airlock approvals deny ${id} --reason "<why>"`,
      viewUrl: `http://127.0.0.1:8081/v1/approvals/${id}`,
      approveUrl: `http://127.0.0.1:8081/v1/approvals/${id}/approve`,
      denyUrl: `http://127.0.0.1:8081/v1/approvals/${id}/deny`,
    });
  });

  test('the JSON body of a new request', () => {
    assert.deepEqual(requestedJson(view, how), {
      type: 'approval.requested',
      approvalId: id,
      state: 'pending',
      requester: { subject: 'agent-1', issuer: 'https://idp', email: 'agent@example.com' },
      connection: 'demo',
      kind: 'delete',
      sql: view.sql,
      tables: ['public.orders'],
      rule: 'orders-writes-need-dba',
      justification: 'duplicate order #1 <from> the import',
      boundParameters: 0,
      approverGroups: ['dba'],
      quorum: 1,
      expiresAt: '2025-01-01T12:15:00.000Z',
      approve: { cli: how.approveCommand, url: how.approveUrl },
      deny: { cli: how.denyCommand, url: how.denyUrl },
      url: how.viewUrl,
    });
  });

  test('the Slack message of a new request: who, SQL, tables, rule, why, how', () => {
    const m = requestedSlack(view, how);
    assert.equal(
      m.text,
      `Approval needed: agent-1 (agent@example.com) wants to run DELETE on demo (public.orders), rule orders-writes-need-dba. Approval ${id}.`,
    );
    const texts = JSON.stringify(m.blocks);
    const blocks = m.blocks as Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }> }>;
    assert.deepEqual(blocks.map((b) => b.type), ['header', 'section', 'section', 'section', 'section', 'context']);
    assert.deepEqual(blocks[1]!.fields!.map((f) => f.text), [
      '*Who*\nagent-1 (agent@example.com)',
      '*Connection*\ndemo',
      '*Tables*\npublic.orders',
      '*Rule*\norders-writes-need-dba',
      '*Approvers*\ndba (quorum 1)',
      '*Expires*\n2025-01-01T12:15:00.000Z',
    ]);
    assert.equal(blocks[2]!.text!.text, "*SQL*\n```DELETE FROM orders WHERE note = '&lt;b&gt;&amp;'```");
    assert.equal(blocks[3]!.text!.text, '*Why*\nduplicate order #1 &lt;from&gt; the import');
    assert.match(blocks[4]!.text!.text, new RegExp(`\`npx airlock approvals approve ${id}\``));
    assert.ok(blocks[4]!.text!.text.includes(`POST ${how.approveUrl}`));
    assert.ok(blocks[4]!.text!.text.includes(`npx airlock approvals deny ${id} --reason "&lt;why&gt;"`));
    assert.ok(!texts.includes('<b>'), 'no unescaped markup');
  });

  test('no justification, a long statement and a code fence inside it', () => {
    const { justification: _, ...rest } = view;
    const long = { ...rest, sql: `SELECT '\`\`\`' || '${'x'.repeat(3000)}'` };
    const blocks = requestedSlack(long, how).blocks as Array<{ text?: { text: string } }>;
    assert.equal(blocks[3]!.text!.text, '*Why*\n_no justification given_');
    const sql = blocks[2]!.text!.text;
    assert.ok(sql.length < 3000, `section text is ${sql.length} characters`);
    assert.equal(sql.match(/```/g)!.length, 2, 'only the fences of the block itself');
    assert.equal(requestedJson(long, how)['justification'], null);
    // bound values never leave in a webhook: only how many there are
    const bound = requestedJson({ ...view, params: ['4111111111111111', null] }, how);
    assert.equal(bound['boundParameters'], 2);
    assert.doesNotMatch(JSON.stringify(bound) + JSON.stringify(requestedSlack({ ...view, params: ['4111111111111111', null] }, how)), /4111111111111111/);
  });

  test('decisions', () => {
    const granted = { ...view, state: 'granted' as const, windowSeconds: 3600, decidedAt: '2025-01-01T12:01:00.000Z', reason: 'ok' };
    const dba = { subject: 'dba-1', issuer: 'https://idp' };
    assert.equal(decidedSlack(granted, dba).text, `Approval ${id} granted by dba-1 for 1h: ok`);
    assert.equal(decidedSlack({ ...view, state: 'denied', reason: 'not in the freeze' }, dba).text, `Approval ${id} denied by dba-1: not in the freeze`);
    assert.equal(decidedSlack({ ...view, state: 'expired', reason: 'no decision' }, undefined).text, `Approval ${id} expired: no decision`);
    assert.deepEqual(decidedJson(granted, dba, how), {
      type: 'approval.decided',
      approvalId: id,
      state: 'granted',
      approver: dba,
      reason: 'ok',
      windowSeconds: 3600,
      requester: { subject: 'agent-1', issuer: 'https://idp', email: 'agent@example.com' },
      connection: 'demo',
      sql: view.sql,
      decidedAt: '2025-01-01T12:01:00.000Z',
      url: how.viewUrl,
    });
    assert.equal(escapeMrkdwn('a<b>&c'), 'a&lt;b&gt;&amp;c');
  });
});
