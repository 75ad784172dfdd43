import type { Principal } from '@airlock/contracts';
import { html, type Html } from '../html.js';
import { highlightSql } from '../highlight.js';
import { page, when, type Viewer } from './layout.js';

/** The parts of the audit API's answers the console shows (the API validates its own shapes). */
export interface SessionSummary {
  sessionId: string;
  principal: Principal;
  connection: string;
  frontend: string;
  openedAt: string;
  closedAt: string | null;
  closeReason: string | null;
  statements: number;
  completed: number;
  failed: number;
  denied: number;
  maskedCells: number;
  tables: string[];
}

export interface StatementRecord {
  requestId: string;
  at: string;
  offsetMs: number;
  sql: string | null;
  kind: string | null;
  tables: string[];
  decision: { outcome: string; rule: string | null; reason: string; code?: string } | null;
  approvalId?: string;
  outcome: string;
  command?: string;
  rows?: number;
  maskedCells?: number;
  durationMs?: number;
  error?: { code: string; sqlState: string; message: string };
  result?: { columns: string[]; rows: Array<Array<string | null>>; truncated: boolean };
}

export interface SessionDetail extends Omit<SessionSummary, 'statements'> {
  statements: StatementRecord[];
  events: number;
}

export interface AuditEvent {
  seq: number | string;
  type: string;
  time: string;
  payload: Record<string, unknown>;
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  lastSeq: number;
  firstBad?: { seq: number; problem: string; message: string };
  checkpoints?: number;
  streamEvents?: number;
  /** why the table was not checked against the event stream */
  streamUnavailable?: string;
}

export const sessionFilters = ['principal', 'connection', 'table', 'decision', 'outcome', 'from', 'to'] as const;
export type SessionQuery = Partial<Record<(typeof sessionFilters)[number], string>>;

const select = (name: string, value: string | undefined, options: readonly string[]) =>
  html`<select name="${name}" id="f-${name}"><option value="">any</option>${options.map((o) => html`<option${o === value ? html` selected` : ''}>${o}</option>`)}</select>`;

export function sessionsPage(viewer: Viewer, q: SessionQuery, sessions: readonly SessionSummary[], error?: string): Html {
  return page({
    title: 'Sessions',
    viewer,
    active: '/sessions',
    flash: error ? { kind: 'error', text: error } : undefined,
    body: html`<h1>Sessions</h1>
<form class="card filters" method="get" action="/sessions">
  <label for="f-principal">Principal <input id="f-principal" name="principal" value="${q.principal ?? ''}"></label>
  <label for="f-connection">Connection <input id="f-connection" name="connection" value="${q.connection ?? ''}"></label>
  <label for="f-table">Table <input id="f-table" name="table" value="${q.table ?? ''}"></label>
  <label for="f-decision">Decision ${select('decision', q.decision, ['allow', 'deny', 'approval-required'])}</label>
  <label for="f-outcome">Outcome ${select('outcome', q.outcome, ['completed', 'failed'])}</label>
  <label for="f-from">From <input id="f-from" name="from" type="datetime-local" step="1" value="${q.from ?? ''}"></label>
  <label for="f-to">To <input id="f-to" name="to" type="datetime-local" step="1" value="${q.to ?? ''}"></label>
  <button type="submit" class="primary">Search</button>
</form>
<div class="scroll"><table class="grid" id="session-table">
  <thead><tr><th>Opened</th><th>Principal</th><th>Connection</th><th>Statements</th><th>Completed</th><th>Failed</th><th>Denied</th><th>Masked cells</th><th>Tables</th><th>Closed</th></tr></thead>
  <tbody>${sessions.map(
    (s) => html`<tr>
    <td><a href="/sessions/${encodeURIComponent(s.sessionId)}">${when(s.openedAt)}</a></td>
    <td>${s.principal.subject}</td><td>${s.connection} <small>${s.frontend}</small></td>
    <td>${s.statements}</td><td>${s.completed}</td><td>${s.failed}</td><td>${s.denied}</td><td>${s.maskedCells}</td>
    <td>${s.tables.join(', ')}</td><td>${s.closedAt ? html`${when(s.closedAt)} <small>${s.closeReason ?? ''}</small>` : html`<span class="state pending">open</span>`}</td>
  </tr>`,
  )}</tbody>
</table></div>
${sessions.length === 0 ? html`<p class="empty">No session matches.</p>` : ''}`,
  });
}

function resultTable(r: NonNullable<StatementRecord['result']>): Html {
  return html`<div class="scroll"><table class="grid result"><thead><tr>${r.columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
<tbody>${r.rows.map((row) => html`<tr>${row.map((v) => html`<td>${v === null ? html`<em>null</em>` : v}</td>`)}</tr>`)}</tbody></table>
${r.truncated ? html`<p class="note">Only the first rows were recorded.</p>` : ''}</div>`;
}

export function replayPage(viewer: Viewer, s: SessionDetail): Html {
  return page({
    title: 'Session replay',
    viewer,
    active: '/sessions',
    body: html`<h1>Session replay</h1>
<section class="card"><dl class="facts">
  <dt>Session</dt><dd><code>${s.sessionId}</code></dd>
  <dt>Principal</dt><dd>${s.principal.subject} <small>${s.principal.issuer} · ${s.principal.groups.join(', ')}</small></dd>
  <dt>Connection</dt><dd>${s.connection} <small>${s.frontend}</small></dd>
  <dt>Opened</dt><dd>${when(s.openedAt)}</dd>
  <dt>Closed</dt><dd>${s.closedAt ? html`${when(s.closedAt)} <small>${s.closeReason ?? ''}</small>` : 'still open'}</dd>
  <dt>Events</dt><dd>${s.events}</dd>
</dl></section>
<ol class="timeline" id="timeline">${s.statements.map(
      (st) => html`<li class="card step ${st.outcome}">
  <header><span class="offset">+${(st.offsetMs / 1000).toFixed(3)} s</span>
    <span class="decision ${st.decision?.outcome ?? 'none'}">${st.decision?.outcome ?? 'no decision'}</span>
    <span class="state ${st.outcome}">${st.outcome}</span>
    ${st.durationMs !== undefined ? html`<span>${st.durationMs.toFixed(1)} ms</span>` : ''}
    ${st.rows !== undefined ? html`<span>${st.rows} row${st.rows === 1 ? '' : 's'}</span>` : ''}
    ${st.maskedCells ? html`<span>${st.maskedCells} masked</span>` : ''}
  </header>
  <pre class="sql-block">${st.sql === null ? html`<em>statement not recorded</em>` : highlightSql(st.sql)}</pre>
  <p class="why">${st.decision ? html`Rule <b>${st.decision.rule ?? 'none'}</b>: ${st.decision.reason}` : ''}${st.approvalId ? html` · approval <code>${st.approvalId}</code>` : ''}</p>
  ${st.error ? html`<p class="flash error">${st.error.code} (${st.error.sqlState}): ${st.error.message}</p>` : ''}
  ${st.result ? resultTable(st.result) : ''}
</li>`,
    )}</ol>
${s.statements.length === 0 ? html`<p class="empty">This session ran no statement.</p>` : ''}`,
  });
}

export function auditPage(viewer: Viewer, verify: VerifyResult, events: readonly AuditEvent[]): Html {
  return page({
    title: 'Audit',
    viewer,
    active: '/audit',
    live: 'audit',
    body: html`<h1>Audit</h1>
<section class="card verify ${!verify.ok ? 'bad' : verify.streamUnavailable === undefined ? 'ok' : 'warn'}" id="chain-status">
  ${!verify.ok
    ? html`<h2>Chain broken</h2><p>${verify.rows} events verified; event ${verify.firstBad?.seq ?? '?'} is <b>${verify.firstBad?.problem ?? 'wrong'}</b>: ${verify.firstBad?.message ?? ''}</p>`
    : verify.streamUnavailable === undefined
      ? html`<h2>Chain verified</h2><p>All ${verify.rows} events, up to sequence ${verify.lastSeq}, link and match their hashes${verify.streamEvents === undefined ? '' : html`; checked against ${verify.checkpoints ?? 0} signed checkpoints and ${verify.streamEvents} events of the event stream`}.</p>`
      : html`<h2>Chain verified, event stream not checked</h2><p>All ${verify.rows} events, up to sequence ${verify.lastSeq}, link and match their hashes, but the table could not be checked against the event stream: ${verify.streamUnavailable}.</p>`}
</section>
<h2>Event stream <small class="live-dot" aria-hidden="true"></small></h2>
<div class="scroll"><table class="grid" id="event-table"><thead><tr><th>Time</th><th>Type</th><th>Principal</th><th>Session</th></tr></thead>
<tbody id="event-rows">${events.map(
      (e) => html`<tr><td>${when(e.time)}</td><td>${e.type}</td><td>${principalOf(e.payload) ?? ''}</td><td>${typeof e.payload['sessionId'] === 'string' ? e.payload['sessionId'] : ''}</td></tr>`,
    )}</tbody></table></div>`,
  });
}

function principalOf(payload: Record<string, unknown>): string | undefined {
  const p = payload['principal'] as { subject?: unknown } | undefined;
  return typeof p?.subject === 'string' ? p.subject : undefined;
}
