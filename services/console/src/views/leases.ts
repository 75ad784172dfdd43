import { html, type Html } from '../html.js';
import { page, when, type Flash, type Viewer } from './layout.js';
import type { credentialV1 } from '@airlock/contracts';

type LeaseView = credentialV1.LiveLease;

export function leaseList(leases: readonly LeaseView[], csrf: string): Html {
  if (leases.length === 0) return html`<p class="empty">No live credential.</p>`;
  const byConnection = new Map<string, LeaseView[]>();
  for (const l of leases) byConnection.set(l.connection, [...(byConnection.get(l.connection) ?? []), l]);
  return html`${[...byConnection].map(
    ([connection, list]) => html`<section class="card">
  <h2>${connection} <small>${list.length} live</small></h2>
  <div class="scroll"><table class="grid leases"><thead><tr><th>Lease</th><th>Database user</th><th>Role</th><th>Principal</th><th>State</th><th>Age</th><th>Expires</th><th></th></tr></thead>
  <tbody>${list.map(
    (l) => html`<tr id="lease-${l.leaseId}" data-lease="${l.leaseId}" data-session="${l.sessionId}">
    <td><code>${l.leaseId.slice(0, 8)}</code></td><td><code>${l.username}</code></td><td>${l.role} <small>${l.mode}</small></td>
    <td>${l.subject}</td><td><span class="state ${l.state}">${l.state}</span></td><td>${when(l.createdAt)}</td><td>${when(l.expiresAt)}</td>
    <td><form method="post" action="/leases/${l.leaseId}/revoke"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="danger">Revoke now</button></form></td>
  </tr>`,
  )}</tbody></table></div>
</section>`,
  )}`;
}

export function leasesPage(viewer: Viewer, leases: readonly LeaseView[], flash: Flash | undefined): Html {
  return page({
    title: 'Leases',
    viewer,
    active: '/leases',
    flash,
    live: 'leases',
    body: html`<h1>Live credentials <small class="live-dot" aria-hidden="true"></small></h1>
<p class="hint">Revoking disables the database login, ends its sessions at once and drops it; the agent's connection closes. The revocation is recorded with your name.</p>
<div id="lease-list" data-fragment="/leases/list">${leaseList(leases, viewer.csrf)}</div>`,
  });
}
