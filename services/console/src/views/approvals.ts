import type { approvalV1 } from '@airlock/contracts';
import { html, type Html } from '../html.js';
import { highlightSql } from '../highlight.js';
import { page, when, type Flash, type Viewer } from './layout.js';

/** Who the approval service sees when this person acts: the subject and issuer of the token the console sends. */
export interface Acting {
  subject: string;
  issuer: string;
}

export const windows = [
  { value: '', label: 'once (this exact statement)' },
  { value: '15m', label: 'for 15 minutes' },
  { value: '1h', label: 'for 1 hour' },
  { value: '8h', label: 'for 8 hours' },
] as const;

export function approvalCard(a: approvalV1.ApprovalView, me: Acting, csrf: string): Html {
  const mine = a.requester.subject === me.subject && a.requester.issuer === me.issuer;
  const voted = a.votes.some((v) => v.approver.subject === me.subject && v.approver.issuer === me.issuer);
  const open = a.state === 'pending' && !mine && !voted;
  return html`<article class="card approval" id="approval-${a.approvalId}" data-approval="${a.approvalId}">
  <header>
    <h2><span class="conn">${a.connection}</span> · <span class="kind">${a.kind}</span></h2>
    <span class="state ${a.state}">${a.state}</span>
  </header>
  <dl class="facts">
    <dt>Requester</dt><dd class="requester">${a.requester.subject}${a.requester.email ? html` &lt;${a.requester.email}&gt;` : ''} <small>${a.requester.groups.join(', ')}</small></dd>
    <dt>Policy rule</dt><dd class="rule">${a.rule ?? '—'}</dd>
    <dt>Tables</dt><dd class="tables">${a.tables.length ? a.tables.join(', ') : '—'}</dd>
    <dt>Justification</dt><dd class="justification">${a.justification ?? html`<em>none given</em>`}</dd>
    <dt>Requested</dt><dd>${when(a.createdAt)}</dd>
    <dt>Expires</dt><dd>${when(a.expiresAt)}</dd>
    <dt>Quorum</dt><dd class="quorum">${a.approvals} of ${a.quorum} approval${a.quorum === 1 ? '' : 's'} from ${a.approverGroups.join(', ')}${
      a.votes.length ? html`<ul class="votes">${a.votes.map((v) => html`<li>${v.approver.subject}: ${v.decision}${v.reason ? html` — ${v.reason}` : ''}</li>`)}</ul>` : ''
    }</dd>
  </dl>
  <pre class="sql-block">${highlightSql(a.sql)}</pre>
  ${mine ? html`<p class="note sod">You requested this statement: another approver must decide it (separation of duties).</p>` : ''}
  ${voted ? html`<p class="note">You have voted on this request; it waits for the rest of the quorum.</p>` : ''}
  ${open
    ? html`<div class="decide">
    <form method="post" action="/approvals/${a.approvalId}/approve" class="approve">
      <input type="hidden" name="_csrf" value="${csrf}">
      <label>Grant <select name="for">${windows.map((w) => html`<option value="${w.value}">${w.label}</option>`)}</select></label>
      <label>Note <input name="reason" maxlength="2000" placeholder="optional"></label>
      <button type="submit" class="primary">Approve</button>
    </form>
    <form method="post" action="/approvals/${a.approvalId}/deny" class="deny">
      <input type="hidden" name="_csrf" value="${csrf}">
      <label>Reason <input name="reason" maxlength="2000" required placeholder="told to the agent"></label>
      <button type="submit" class="danger">Deny</button>
    </form>
  </div>`
    : ''}
</article>`;
}

export function approvalList(list: readonly approvalV1.ApprovalView[], me: Acting, csrf: string): Html {
  return list.length === 0
    ? html`<p class="empty">No statement is waiting for approval.</p>`
    : html`${list.map((a) => approvalCard(a, me, csrf))}`;
}

export function approvalsPage(viewer: Viewer, list: readonly approvalV1.ApprovalView[], me: Acting, flash: Flash | undefined): Html {
  return page({
    title: 'Pending approvals',
    viewer,
    active: '/approvals',
    flash,
    live: 'approvals',
    body: html`<h1>Pending approvals <small class="live-dot" aria-hidden="true"></small></h1>
<section id="approval-list" data-fragment="/approvals/list" aria-live="polite">${approvalList(list, me, viewer.csrf)}</section>`,
  });
}
