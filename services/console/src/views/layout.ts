import { html, type Html } from '../html.js';

export interface Roles {
  approver: boolean;
  auditor: boolean;
  admin: boolean;
}

export interface Viewer {
  name: string;
  roles: Roles;
  csrf: string;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

const nav = [
  { href: '/approvals', label: 'Pending approvals', role: 'approver' },
  { href: '/sessions', label: 'Sessions', role: 'auditor' },
  { href: '/audit', label: 'Audit', role: 'auditor' },
  { href: '/leases', label: 'Leases', role: 'admin' },
] as const;

/** The page frame: one stylesheet and one script from the console itself, so the CSP can forbid everything inline. */
export function page(o: { title: string; viewer?: Viewer; active?: string; flash?: Flash | undefined; live?: string; body: Html }): Html {
  const v = o.viewer;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Airlock console</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/console.css">
${v ? html`<meta name="csrf-token" content="${v.csrf}">` : ''}
<script src="/assets/console.js" defer></script>
</head>
<body${o.live ? html` data-live="${o.live}"` : ''}>
<header class="top">
  <a class="brand" href="/">Airlock</a>
  ${v
    ? html`<nav>${nav
        .filter((n) => v.roles[n.role])
        .map((n) => html`<a href="${n.href}"${o.active === n.href ? html` aria-current="page"` : ''}>${n.label}</a>`)}</nav>
      <form class="who" method="post" action="/logout">
        <span title="signed in">${v.name}</span>
        <input type="hidden" name="_csrf" value="${v.csrf}">
        <button type="submit" class="link">Sign out</button>
      </form>`
    : ''}
</header>
<main>
${o.flash ? html`<p class="flash ${o.flash.kind}" role="status">${o.flash.text}</p>` : ''}
${o.body}
</main>
</body>
</html>`;
}

export function loginPage(o: { oidc: boolean; saml: boolean; error?: string | undefined }): Html {
  return page({
    title: 'Sign in',
    body: html`<section class="card narrow">
      <h1>Sign in to the Airlock console</h1>
      ${o.error ? html`<p class="flash error" role="alert">${o.error}</p>` : ''}
      <p>Approvers decide held statements, auditors read sessions and the audit log, admins revoke leases.</p>
      <div class="actions">
        ${o.oidc ? html`<a class="button" href="/auth/oidc/start" id="signin-oidc">Sign in with OpenID Connect</a>` : ''}
        ${o.saml ? html`<a class="button" href="/auth/saml/start" id="signin-saml">Sign in with SAML</a>` : ''}
      </div>
      ${!o.oidc && !o.saml ? html`<p>No sign-in method is configured: add <code>console.oidc</code> or <code>console.saml</code> to the config file.</p>` : ''}
    </section>`,
  });
}

export function homePage(viewer: Viewer): Html {
  const any = viewer.roles.approver || viewer.roles.auditor || viewer.roles.admin;
  return page({
    title: 'Home',
    viewer,
    body: html`<section class="card narrow"><h1>Welcome, ${viewer.name}</h1>
      ${any
        ? html`<p>Choose a page above.</p>`
        : html`<p>Your groups give you no role in the console. Ask an administrator to add you to an approver, auditor or admin group.</p>`}
    </section>`,
  });
}

/** A time shown absolute, that the script keeps relative ("3 min ago", "in 12 min"). */
export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span>—</span>`;
  return html`<time datetime="${iso}" data-relative>${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}
