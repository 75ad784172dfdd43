// The console in real Chromium against the whole stack: sign-in through a real OIDC provider and a SAML IdP,
// approve and deny held statements, replay a session, follow the audit stream, revoke a live lease.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { demoCustomers } from '@airlock/cli';
import { defaultDoorAudiences } from '@airlock/config';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { startOidcProvider, startSamlIdp } from './idps.ts';
import { chromiumBinary } from './browser.ts';

const shots = join(process.cwd(), 'test-results', 'console');
const clientId = 'airlock-console';
/** the audiences the approval and audit APIs take (the config's defaults), which the console asks its IdP for */
const approvalAudience = defaultDoorAudiences.approval;
const auditAudience = defaultDoorAudiences.audit;
/** Airlock's own SAML SP, whose bearer assertions open the PostgreSQL door */
const gatewaySp = { audience: 'urn:airlock:gateway', recipient: 'https://airlock.example.test/saml/bearer' };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function onDemoServer<T>(sql: string, args: unknown[], pick: (rows: any[]) => T): Promise<T> {
  // the server's own `postgres` database: DATABASE_URL names Airlock's state database, which need not exist yet
  const c = new pg.Client({ connectionString: databaseUrl('postgres') });
  await c.connect();
  try {
    return pick((await c.query(sql, args)).rows);
  } finally {
    await c.end();
  }
}
const backends = (user: string) => onDemoServer('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [user], (r) => r[0].n as number);
const roleExists = (user: string) => onDemoServer('SELECT 1 FROM pg_roles WHERE rolname = $1', [user], (r) => r.length === 1);

async function agent(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  c.on('notice', () => undefined);
  await c.connect();
  return c;
}

describe('the console in a browser', { timeout: 300_000 }, () => {
  let t: TestStack;
  let oidcIdp: Awaited<ReturnType<typeof startOidcProvider>>;
  let samlIdp: Awaited<ReturnType<typeof startSamlIdp>>;
  let consoleUrl: string;
  const userDirs: string[] = [];
  let approver: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  const clients: pg.Client[] = [];
  let masked: pg.QueryResult;

  /** Chromium (chromiumBinary says which), kept off the network, each browser with a fresh profile of its own. */
  const launch = async (): Promise<BrowserContext> => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-chromium-'));
    userDirs.push(dir);
    const binary = await chromiumBinary();
    return chromium.launchPersistentContext(dir, {
      executablePath: binary.executablePath,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [...binary.args, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  };
  const watch = (p: Page) => {
    p.on('console', (m) => {
      if (m.type() === 'error' && m.location().url.startsWith(consoleUrl)) errors.push(`${m.location().url}: ${m.text()}`);
    });
    p.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    return p;
  };
  const both = async (p: Page, name: string) => {
    await p.setViewportSize({ width: 1280, height: 800 });
    await p.screenshot({ path: join(shots, `${name}-1280x800.png`), fullPage: false });
    await p.setViewportSize({ width: 390, height: 844 });
    await p.screenshot({ path: join(shots, `${name}-390x844.png`), fullPage: false });
    await p.setViewportSize({ width: 1280, height: 800 });
  };

  before(async () => {
    mkdirSync(shots, { recursive: true });
    const [consolePort, approvalPort, auditPort, oidcPort, samlPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    consoleUrl = `http://127.0.0.1:${consolePort}`;
    oidcIdp = await startOidcProvider({
      port: oidcPort,
      clientId,
      clientSecret: 'console-client-secret',
      redirectUri: `${consoleUrl}/auth/oidc/callback`,
      people: { 'dba-1': { groups: ['dba', 'auditors', 'platform-admins'] } },
      resources: [approvalAudience, auditAudience],
    });
    samlIdp = await startSamlIdp({ port: samlPort, audience: `${consoleUrl}/saml`, subject: 'saml-approver', person: { groups: ['dba', 'auditors'] } });
    t = await startTestStack({
      configure: (c) => {
        c['approval'] = { ...c['approval'], holdSeconds: 60 };
        c['identity']['issuers'].push(
          // the console's IdP issues it one access token per API, each for that API's audience alone
          { issuer: oidcIdp.issuer, audiences: [approvalAudience, auditAudience], doors: { approval: approvalAudience, audit: auditAudience }, algorithms: ['RS256'], groupsClaim: 'groups', emailClaim: 'email' },
        );
        // the SAML IdP, trusted at the PostgreSQL door (Airlock's SP) and, through the console, at the approval and audit APIs
        c['identity']['saml'] = [{ issuer: samlIdp.entityId, idpCert: samlIdp.cert, audience: gatewaySp.audience, recipient: gatewaySp.recipient, groupsAttribute: 'groups' }];
        c['console'] = {
          oidc: { issuer: oidcIdp.issuer, clientId, clientSecret: '${AIRLOCK_CONSOLE_OIDC_SECRET}', redirectUri: `${consoleUrl}/auth/oidc/callback`, scopes: ['openid', 'email', 'groups'] },
          saml: { entryPoint: samlIdp.entryPoint, issuer: `${consoleUrl}/saml`, idpCert: samlIdp.cert, audience: `${consoleUrl}/saml`, callbackUrl: `${consoleUrl}/auth/saml/callback`, groupsAttribute: 'groups' },
          groups: { approvers: ['dba'], auditors: ['auditors'], admins: ['platform-admins'] },
          sessionSecret: '${AIRLOCK_CONSOLE_SESSION_SECRET}',
        };
      },
      env: {
        AIRLOCK_CONSOLE_PORT: String(consolePort),
        AIRLOCK_APPROVAL_PORT: String(approvalPort),
        AIRLOCK_AUDIT_PORT: String(auditPort),
        AIRLOCK_CONSOLE_APPROVAL_URL: `http://127.0.0.1:${approvalPort}`,
        AIRLOCK_CONSOLE_AUDIT_URL: `http://127.0.0.1:${auditPort}`,
        AIRLOCK_CONSOLE_OIDC_SECRET: 'console-client-secret',
        AIRLOCK_CONSOLE_SESSION_SECRET: 'a-browser-test-session-secret-of-enough-length',
      },
    });
    assert.equal(t.ports['console'], consolePort);
    approver = await launch();
    page = watch(approver.pages()[0] ?? (await approver.newPage()));
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await approver?.close();
    await t?.close();
    await oidcIdp?.close();
    await samlIdp?.close();
    for (const dir of userDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('signs in through the OIDC provider (authorization code with PKCE)', async () => {
    await page.goto(`${consoleUrl}/`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await both(page, 'login');
    await page.click('#signin-oidc');
    await page.waitForURL((u) => u.href.startsWith(oidcIdp.issuer));
    await page.fill('input[name="login"]', 'dba-1');
    await page.fill('input[name="password"]', 'any password');
    await page.click('button[type="submit"]');
    const consent = page.locator('button:has-text("Continue")');
    await consent.waitFor({ timeout: 10_000 });
    await consent.click();
    await page.waitForURL(`${consoleUrl}/approvals`);
    assert.equal((await page.locator('h1').first().innerText()).trim(), 'Pending approvals');
    assert.equal(await page.locator('.who span').innerText(), 'dba-1@example.test');
    assert.deepEqual(await page.locator('header.top nav a').allInnerTexts(), ['Pending approvals', 'Sessions', 'Audit', 'Leases']);
    const cookie = (await approver.cookies(consoleUrl)).find((c) => c.name === 'airlock_console');
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  it('shows a held statement live and approves it: the agent statement completes', async () => {
    await page.goto(`${consoleUrl}/approvals`);
    await page.waitForSelector('body[data-live-ready]');
    const analyst = await agent(t.pgUrl(await t.token({ subject: 'agent-1', groups: ['analysts'] })));
    clients.push(analyst);
    const held = analyst.query('DELETE FROM orders WHERE id = 1');
    const card = page.locator('article.approval').filter({ hasText: 'DELETE FROM orders WHERE id = 1' });
    await card.waitFor({ timeout: 20_000 });
    assert.equal(await card.locator('.requester').innerText().then((s) => s.split(' ')[0]), 'agent-1');
    assert.equal(await card.locator('.rule').innerText(), 'orders-writes-need-dba');
    assert.match(await card.locator('.tables').innerText(), /orders/);
    assert.match(await card.locator('.quorum').innerText(), /^0 of 1 approval from dba/);
    assert.equal(await card.locator('pre .sql .k').first().innerText(), 'DELETE');
    await both(page, 'approvals');
    await card.locator('form.approve button').click();
    await page.waitForURL(`${consoleUrl}/approvals`);
    assert.equal(await page.locator('.flash.ok').innerText(), 'Approved once: the statement runs now.');
    const result = await held;
    assert.equal(result.rowCount, 1);
    assert.equal(result.command, 'DELETE');
  });

  it('signs in through the SAML IdP and denies a statement with a reason the agent receives', async () => {
    const samlContext = await launch();
    const p = watch(await samlContext.newPage());
    await p.goto(`${consoleUrl}/login`);
    await p.click('#signin-saml');
    await p.waitForURL((u) => u.href.startsWith(samlIdp.entryPoint));
    await p.click('#continue');
    await p.waitForURL(`${consoleUrl}/approvals`);
    assert.equal(await p.locator('.who span').innerText(), 'saml-approver@example.test');
    await p.waitForSelector('body[data-live-ready]');
    const analyst = await agent(t.pgUrl(await t.token({ subject: 'agent-2', groups: ['analysts'] })));
    clients.push(analyst);
    masked = await analyst.query('SELECT id, email FROM customers WHERE id = 1');
    assert.equal(masked.rowCount, 1);
    const held = analyst.query('DELETE FROM orders WHERE id = 2').then(
      () => assert.fail('the denied statement ran'),
      (e: Error) => e,
    );
    const card = p.locator('article.approval').filter({ hasText: 'DELETE FROM orders WHERE id = 2' });
    await card.waitFor({ timeout: 20_000 });
    await card.locator('form.deny input[name="reason"]').fill('not during the quarter-end freeze');
    await card.locator('form.deny button').click();
    await p.waitForURL(`${consoleUrl}/approvals`);
    assert.equal(await p.locator('.flash.ok').innerText(), 'Denied: the agent is told "not during the quarter-end freeze".');
    const err = await held;
    assert.match(err.message, /^an approver denied this statement \(request [^)]+\): not during the quarter-end freeze$/);
    await analyst.end();
    await samlContext.close();
  });

  it('refuses a SAML person approving through the console what they asked for at the PostgreSQL door', async () => {
    const samlContext = await launch();
    const p = watch(await samlContext.newPage());
    await p.goto(`${consoleUrl}/login`);
    await p.click('#signin-saml');
    await p.waitForURL((u) => u.href.startsWith(samlIdp.entryPoint));
    await p.click('#continue');
    await p.waitForURL(`${consoleUrl}/approvals`);
    await p.waitForSelector('body[data-live-ready]');
    // the same person, by an assertion of the same IdP, at the database door (as an analyst there: the IdP may give
    // another SP other groups, and the person is the same)
    const self = await agent(t.pgUrl(samlIdp.bearerAssertion(gatewaySp, ['analysts'])));
    clients.push(self);
    const held = self.query('DELETE FROM orders WHERE id = 4').then(
      () => 'ran',
      (e: Error) => e.message,
    );
    const card = p.locator('article.approval').filter({ hasText: 'DELETE FROM orders WHERE id = 4' });
    await Promise.race([card.waitFor({ timeout: 20_000 }), held.then((outcome) => assert.fail(`the statement was not held: ${outcome}`))]);
    assert.equal(await card.locator('.requester').innerText().then((s) => s.split(' ')[0]), 'saml-approver');
    // one person at both doors: the console sees its own person's request and offers no decision
    assert.equal(await card.locator('.note.sod').innerText(), 'You requested this statement: another approver must decide it (separation of duties).');
    assert.equal(await card.locator('form.approve').count(), 0);
    // and the approval API, asked directly with the console session's credential, refuses it as self-approval
    const approvalId = await card.getAttribute('data-approval');
    const csrf = await p.locator('input[name="_csrf"]').first().getAttribute('value');
    const res = await samlContext.request.post(`${consoleUrl}/approvals/${approvalId}/approve`, { form: { _csrf: csrf ?? '' }, headers: { origin: consoleUrl }, maxRedirects: 0 });
    assert.equal(res.status(), 303);
    await p.goto(`${consoleUrl}/approvals`);
    assert.equal(await p.locator('.flash.error').innerText(), 'nobody may approve or deny their own request; ask another approver');
    await self.end();
    assert.notEqual(await held, 'ran');
    await samlContext.close();
  });

  it('finds the denied session and opens its replay', async () => {
    await eventually(async () => {
      await page.goto(`${consoleUrl}/sessions?principal=agent-2&decision=approval-required`);
      return (await page.locator('#session-table tbody tr').count()) === 1 && (await page.locator('#session-table tbody tr').innerText()).includes('Closed') === false ? true : undefined;
    }, 15_000, 'the session of agent-2 in the audit log');
    assert.match(await page.locator('#session-table tbody tr td').nth(1).innerText(), /^agent-2$/);
    await both(page, 'sessions');
    await page.locator('#session-table tbody tr a').click();
    await page.waitForURL(/\/sessions\/[^/]+$/);
    const steps = page.locator('#timeline > li');
    assert.equal(await steps.count(), 2);
    assert.match(await steps.nth(0).locator('pre').innerText(), /SELECT id, email FROM customers WHERE id = 1/);
    assert.equal(await steps.nth(0).locator('.decision').innerText(), 'allow');
    const cells = await steps.nth(0).locator('table.result tbody td').allInnerTexts();
    assert.equal(cells[0], '1');
    // the replay shows the result as the agent received it: the e-mail masked, never the clear value
    assert.equal(cells.length, 2);
    assert.notEqual(cells[1], demoCustomers()[0]!.email);
    assert.equal(cells[1], masked.rows[0].email);
    assert.match(await steps.nth(1).locator('pre').innerText(), /DELETE FROM orders WHERE id = 2/);
    assert.equal(await steps.nth(1).locator('.decision').innerText(), 'approval-required');
    assert.equal(await steps.nth(1).locator('.state').innerText(), 'failed');
    await both(page, 'replay');
  });

  it('shows the verified chain and follows the live event stream', async () => {
    await page.goto(`${consoleUrl}/audit`);
    assert.equal(await page.locator('#chain-status h2').innerText(), 'Chain verified');
    await page.waitForSelector('body[data-live-ready]');
    const before = await page.locator('#event-rows tr').count();
    const reader = await agent(t.pgUrl(await t.token({ subject: 'agent-live', groups: ['analysts'] })));
    await reader.query('SELECT 1 AS one FROM orders LIMIT 1');
    await reader.end();
    await page.locator('#event-rows tr.fresh').filter({ hasText: 'agent-live' }).first().waitFor({ timeout: 15_000 });
    assert.ok((await page.locator('#event-rows tr').count()) > before);
    await both(page, 'audit');
  });

  it('revokes a live lease: its database login and the agent connection on it end', async () => {
    await page.goto(`${consoleUrl}/leases`);
    await page.waitForSelector('body[data-live-ready]');
    const victim = await agent(t.pgUrl(await t.token({ subject: 'agent-3', groups: ['analysts'] })));
    clients.push(victim);
    assert.equal((await victim.query('SELECT count(*)::int AS n FROM orders WHERE id > 2')).rows[0].n > 0, true);
    const row = page.locator('#lease-list tr').filter({ hasText: 'agent-3' });
    await row.waitFor({ timeout: 15_000 });
    const username = (await row.locator('td').nth(1).innerText()).trim();
    assert.ok(username.startsWith(t.rolePrefix));
    assert.equal(await backends(username), 1);
    await both(page, 'leases');
    await row.locator('button').click();
    await page.waitForURL(`${consoleUrl}/leases`);
    assert.match(await page.locator('.flash.ok').innerText(), /^Lease [0-9a-f]{8}: revoked\.$/);
    assert.equal(await page.locator('#lease-list tr').filter({ hasText: username }).count(), 0);
    // the credential is gone and the upstream connection that used it was ended at once
    assert.equal(await backends(username), 0);
    assert.equal(await roleExists(username), false);
    const revoked = await eventually(async () => {
      const c = new pg.Client({ connectionString: t.env['DATABASE_URL'] });
      await c.connect();
      try {
        const { rows } = await c.query(`SELECT payload->>'reason' AS reason FROM audit_events WHERE event_type = 'credential.v1.revoked' AND payload->>'reason' LIKE 'revoked from the console%'`);
        return rows[0]?.reason as string | undefined;
      } finally {
        await c.end();
      }
    }, 10_000, 'the audited revocation');
    assert.equal(revoked, `revoked from the console by dba-1 (${oidcIdp.issuer})`);
    // the proxy learns of it at its next lease heartbeat and ends the agent's connection in the PostgreSQL protocol
    const ended = await eventually(
      async () => {
        try {
          await victim.query('SELECT 1 AS still');
          return undefined;
        } catch (err) {
          return err as Error;
        }
      },
      15_000,
      'the agent connection ended',
    );
    assert.match(ended.message, /Airlock ended this session: its database credential was revoked|Connection terminated|not queryable/);
  });

  it('refuses state-changing requests without the CSRF token, with a wrong one, or from another origin', async () => {
    const cookie = (await approver.cookies(consoleUrl)).find((c) => c.name === 'airlock_console')!;
    await page.goto(`${consoleUrl}/approvals`);
    const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
    assert.ok(token && token.length >= 32);
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${consoleUrl}/approvals/00000000-0000-4000-8000-000000000000/deny`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: `${cookie.name}=${cookie.value}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    const missing = await post('reason=x');
    assert.equal(missing.status, 403);
    assert.deepEqual(await missing.json(), { code: 'console.csrf_rejected', message: 'the form is stale or was not sent by the console; reload the page and try again' });
    const wrong = await post(`reason=x&_csrf=${'A'.repeat(token.length)}`, { origin: consoleUrl });
    assert.equal(wrong.status, 403);
    assert.equal(((await wrong.json()) as { code: string }).code, 'console.csrf_rejected');
    const crossSite = await post(`reason=x&_csrf=${encodeURIComponent(token)}`, { origin: 'http://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.deepEqual(await crossSite.json(), { code: 'console.csrf_rejected', message: 'the request came from another origin; use the console itself' });
    const signedOut = await fetch(`${consoleUrl}/leases/00000000-0000-4000-8000-000000000000/revoke`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(token)}` });
    assert.equal(signedOut.status, 401);
    // the same request with the right token and origin passes the check and reaches the approval API
    const genuine = await post(`reason=x&_csrf=${encodeURIComponent(token)}`, { origin: consoleUrl });
    assert.equal(genuine.status, 303);
    assert.equal(genuine.headers.get('location'), '/approvals');
  });

  it('logged no error in the browser console', () => {
    assert.deepEqual(errors, []);
  });
});
