import type { approvalV1 } from '@airlock/contracts';
import { formatSeconds } from './duration.js';

/** How an approver acts on a request: the CLI lines and the API addresses. */
export interface HowToDecide {
  approveCommand: string;
  approveForCommand: string;
  denyCommand: string;
  viewUrl: string;
  approveUrl: string;
  denyUrl: string;
}

export function howToDecide(apiBaseUrl: string, approvalId: string): HowToDecide {
  const base = `${apiBaseUrl.replace(/\/+$/, '')}/v1/approvals/${approvalId}`;
  return {
    approveCommand: `npx airlock approvals approve ${approvalId}`,
    approveForCommand: `npx airlock approvals approve ${approvalId} --for 1h`,
    denyCommand: `npx airlock approvals deny ${approvalId} --reason "<why>"`,
    viewUrl: base,
    approveUrl: `${base}/approve`,
    denyUrl: `${base}/deny`,
  };
}

/** The requester as messages name them: subject, and the e-mail when the token carried one. */
function who(p: { subject: string; email?: string | undefined }): string {
  return p.email ? `${p.subject} (${p.email})` : p.subject;
}

type Person = { subject: string; issuer: string; email?: string };
const person = (p: Person): Person => ({ subject: p.subject, issuer: p.issuer, ...(p.email ? { email: p.email } : {}) });

/** The generic JSON webhook body for a new request. */
export function requestedJson(view: approvalV1.ApprovalView, how: HowToDecide): Record<string, unknown> {
  return {
    type: 'approval.requested',
    approvalId: view.approvalId,
    state: view.state,
    requester: person(view.requester),
    connection: view.connection,
    kind: view.kind,
    sql: view.sql,
    tables: view.tables,
    rule: view.rule,
    justification: view.justification ?? null,
    // the values stay out of webhooks (they may be personal data); approvers read them with their own token
    boundParameters: view.params?.length ?? 0,
    approverGroups: view.approverGroups,
    quorum: view.quorum,
    expiresAt: view.expiresAt,
    approve: { cli: how.approveCommand, url: how.approveUrl },
    deny: { cli: how.denyCommand, url: how.denyUrl },
    url: how.viewUrl,
  };
}

/** The generic JSON webhook body for a final decision (granted, denied, expired). */
export function decidedJson(view: approvalV1.ApprovalView, approver: Person | undefined, how: HowToDecide): Record<string, unknown> {
  return {
    type: 'approval.decided',
    approvalId: view.approvalId,
    state: view.state,
    approver: approver ? person(approver) : null,
    reason: view.reason ?? null,
    windowSeconds: view.windowSeconds ?? null,
    requester: person(view.requester),
    connection: view.connection,
    sql: view.sql,
    decidedAt: view.decidedAt ?? null,
    url: how.viewUrl,
  };
}

/** Slack mrkdwn treats these three as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A section holds at most 3000 characters; a code fence inside the statement would end the block early. */
function codeBlock(sql: string): string {
  const body = sql.length > 2500 ? `${sql.slice(0, 2500)}…` : sql;
  return '```' + escapeMrkdwn(body.replace(/```/g, '`\u200b``')) + '```';
}

const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });

/** A Slack-compatible incoming-webhook message for a new request: who, what SQL, which tables, the rule, why, how to approve. */
export function requestedSlack(view: approvalV1.ApprovalView, how: HowToDecide): { text: string; blocks: unknown[] } {
  const tables = view.tables.length > 0 ? view.tables.join(', ') : '(none)';
  const text =
    `Approval needed: ${escapeMrkdwn(who(view.requester))} wants to run ${view.kind.toUpperCase()} on ${escapeMrkdwn(view.connection)} ` +
    `(${escapeMrkdwn(tables)})${view.rule ? `, rule ${escapeMrkdwn(view.rule)}` : ''}. Approval ${view.approvalId}.`;
  return {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'Statement held for approval' } },
      {
        type: 'section',
        fields: [
          mrkdwn(`*Who*\n${escapeMrkdwn(who(view.requester))}`),
          mrkdwn(`*Connection*\n${escapeMrkdwn(view.connection)}`),
          mrkdwn(`*Tables*\n${escapeMrkdwn(tables)}`),
          mrkdwn(`*Rule*\n${escapeMrkdwn(view.rule ?? '(default)')}`),
          mrkdwn(`*Approvers*\n${escapeMrkdwn(view.approverGroups.join(', '))} (quorum ${view.quorum})`),
          mrkdwn(`*Expires*\n${view.expiresAt}`),
        ],
      },
      {
        type: 'section',
        text: mrkdwn(
          `*SQL*\n${codeBlock(view.sql)}` +
            (view.params?.length ? `\nwith ${view.params.length} bind parameter(s), bound to the grant: \`npx airlock approvals show ${view.approvalId}\` shows them` : ''),
        ),
      },
      { type: 'section', text: mrkdwn(`*Why*\n${view.justification ? escapeMrkdwn(view.justification) : '_no justification given_'}`) },
      {
        type: 'section',
        text: mrkdwn(
          `*How to decide*\n\`${how.approveCommand}\` (add \`--for 1h\` for a time window)\n\`${escapeMrkdwn(how.denyCommand)}\`\n` +
            `API: \`POST ${how.approveUrl}\` or \`POST ${how.denyUrl}\` with your own token`,
        ),
      },
      { type: 'context', elements: [mrkdwn(`approval ${view.approvalId}`)] },
    ],
  };
}

/** A Slack-compatible message for a final decision. */
export function decidedSlack(view: approvalV1.ApprovalView, approver: Person | undefined): { text: string; blocks: unknown[] } {
  const by = approver ? ` by ${escapeMrkdwn(who(approver))}` : '';
  const window = view.windowSeconds ? ` for ${formatSeconds(view.windowSeconds)}` : '';
  const reason = view.reason ? `: ${escapeMrkdwn(view.reason)}` : '';
  const text = `Approval ${view.approvalId} ${view.state}${by}${view.state === 'granted' ? window : ''}${reason}`;
  return {
    text,
    blocks: [
      { type: 'section', text: mrkdwn(`*${text}*`) },
      { type: 'context', elements: [mrkdwn(`${escapeMrkdwn(who(view.requester))} on ${escapeMrkdwn(view.connection)}: ${codeBlock(view.sql)}`)] },
    ],
  };
}
