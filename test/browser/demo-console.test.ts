// The demo's console as a newcomer meets it: sign in through the demo's own OIDC provider as approver-1, approve a
// statement held in a real `psql` session and watch it complete; auditor-1 reads the audit log and cannot approve.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { demoPeople } from '@airlock/cli';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';
import { chromiumBinary } from './browser.ts';

/** Runs one statement in `psql` (the real client) and resolves with its exit code and output when it ends. */
function psql(url: string, sql: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('psql', [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the demo console', { timeout: 300_000 }, () => {
  let t: TestStack;
  let consoleUrl: string;
  const contexts: BrowserContext[] = [];
  const userDirs: string[] = [];
  const clients: pg.Client[] = [];
  let approver: Page;
  let auditor: Page;

  const launch = async (): Promise<Page> => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-chromium-'));
    userDirs.push(dir);
    const binary = await chromiumBinary();
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: binary.executablePath,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [...binary.args, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    contexts.push(context);
    return context.pages()[0] ?? (await context.newPage());
  };
  const person = (name: string) => t.signIn!.people.find((p) => p.name === name)!;
  const signIn = async (page: Page, name: string, password: string) => {
    await page.goto(`${consoleUrl}/login`);
    await page.click('#signin-oidc');
    await page.waitForURL((u) => u.href.startsWith(`${t.signIn!.issuer}/interaction/`));
    await page.fill('input[name="login"]', name);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
  };

  before(async () => {
    t = await startTestStack({ demoConsole: true });
    assert.ok(t.signIn && t.consoleUrl);
    consoleUrl = t.consoleUrl;
    assert.equal(t.ports['console'], Number(new URL(consoleUrl).port));
    approver = await launch();
    auditor = await launch();
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    for (const c of contexts) await c.close();
    await t?.close();
    for (const dir of userDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('has the two demo people, each with a password of its own', () => {
    assert.deepEqual(
      t.signIn!.people.map((p) => ({ name: p.name, groups: p.groups })),
      demoPeople.map((p) => ({ name: p.name, groups: [...p.groups] })),
    );
    assert.deepEqual(demoPeople.map((p) => [p.name, p.groups]), [['approver-1', ['dba']], ['auditor-1', ['auditors']]]);
    const [a, b] = t.signIn!.people.map((p) => p.password);
    assert.ok(a!.length >= 12 && b!.length >= 12 && a !== b);
  });

  it('refuses a wrong password at the demo provider', async () => {
    await signIn(approver, 'approver-1', 'not-the-password');
    assert.equal(await approver.locator('.error').innerText(), 'Unknown user or wrong password: the passwords are printed by npm start.');
    assert.ok(approver.url().startsWith(`${t.signIn!.issuer}/interaction/`));
    assert.equal((await approver.context().cookies(consoleUrl)).some((c) => c.name === 'airlock_console'), false);
  });

  it('signs approver-1 in through the demo provider (authorization code with PKCE)', async () => {
    await signIn(approver, 'approver-1', person('approver-1').password);
    await approver.waitForURL(`${consoleUrl}/approvals`);
    assert.equal((await approver.locator('h1').first().innerText()).trim(), 'Pending approvals');
    assert.equal(await approver.locator('.who span').innerText(), 'approver-1');
  });

  it('approves an INSERT held in psql: the statement completes and the audit log names the approver', async () => {
    await approver.goto(`${consoleUrl}/approvals`);
    await approver.waitForSelector('body[data-live-ready]');
    const token = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    const sql = "INSERT INTO orders (id, customer_id, total, created_at) VALUES (5001, 1, 42.50, '2026-01-02T03:04:05Z')";
    const held = psql(t.pgUrl(token), sql);
    const card = approver.locator('article.approval').filter({ hasText: 'INSERT INTO orders' });
    await card.waitFor({ timeout: 20_000 });
    assert.equal(await card.locator('.rule').innerText(), 'orders-writes-need-dba');
    assert.match(await card.locator('.quorum').innerText(), /^0 of 1 approval from dba/);
    await card.locator('form.approve button').click();
    await approver.waitForURL(`${consoleUrl}/approvals`);
    assert.equal(await approver.locator('.flash.ok').innerText(), 'Approved once: the statement runs now.');
    const done = await held;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout.trim(), 'INSERT 0 1');
    // psql showed the hold at once, naming the rule, the approver group and the request
    assert.match(
      done.stderr,
      /^NOTICE: {2}Airlock is holding this statement for approval \(rule "orders-writes-need-dba"\) by dba: request ([0-9a-f-]{36})\. An approver runs: npx airlock approvals approve \1$/m,
    );
    const demo = new pg.Client({ connectionString: t.demoUrl });
    await demo.connect();
    try {
      assert.deepEqual((await demo.query('SELECT customer_id, total::text FROM orders WHERE id = 5001')).rows, [{ customer_id: 1, total: '42.50' }]);
    } finally {
      await demo.end();
    }
    const decided = await eventually(async () => {
      const c = new pg.Client({ connectionString: t.env['DATABASE_URL'] });
      await c.connect();
      try {
        const { rows } = await c.query(
          `SELECT payload FROM audit_events WHERE event_type = 'approval.v1.decided' AND payload->>'state' = 'granted'`,
        );
        return rows.length > 0 ? (rows as Array<{ payload: Record<string, any> }>) : undefined;
      } finally {
        await c.end();
      }
    }, 10_000, 'the audited approval');
    assert.equal(decided.length, 1);
    assert.deepEqual(decided[0]!.payload['approver'], { subject: 'approver-1', issuer: t.signIn!.issuer, groups: ['dba'] });
  });

  it('lets auditor-1 read the audit log, where the approval is listed', async () => {
    await signIn(auditor, 'auditor-1', person('auditor-1').password);
    // an auditor's home is the sessions page
    await auditor.waitForURL(`${consoleUrl}/sessions`);
    assert.equal(await auditor.locator('.who span').innerText(), 'auditor-1');
    await auditor.goto(`${consoleUrl}/audit`);
    assert.equal(await auditor.locator('#chain-status h2').innerText(), 'Chain verified');
    assert.equal(await auditor.locator('#event-rows tr').filter({ hasText: 'approval.v1.decided' }).count(), 1);
  });

  it('refuses auditor-1 an approval: the statement stays held until approver-1 denies it', async () => {
    await approver.goto(`${consoleUrl}/approvals`);
    await approver.waitForSelector('body[data-live-ready]');
    const agent = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-2', groups: ['analysts'] })) });
    agent.on('error', () => undefined);
    await agent.connect();
    clients.push(agent);
    const held = agent.query('DELETE FROM orders WHERE id = 5001').then(
      () => assert.fail('the statement ran without an approval'),
      (e: Error) => e,
    );
    const card = approver.locator('article.approval').filter({ hasText: 'DELETE FROM orders WHERE id = 5001' });
    await card.waitFor({ timeout: 20_000 });
    const action = await card.locator('form.approve').getAttribute('action');
    assert.match(action ?? '', /^\/approvals\/[^/]+\/approve$/);

    // the auditor has no approver role: the page and the action are both refused
    const page = await auditor.goto(`${consoleUrl}/approvals`);
    assert.equal(page?.status(), 403);
    assert.equal(await auditor.locator('h1').innerText(), 'Not allowed');
    await auditor.goto(`${consoleUrl}/sessions`);
    const csrf = await auditor.locator('meta[name="csrf-token"]').getAttribute('content');
    const cookie = (await auditor.context().cookies(consoleUrl)).find((c) => c.name === 'airlock_console')!;
    const tried = await fetch(`${consoleUrl}${action}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: `${cookie.name}=${cookie.value}`, origin: consoleUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${encodeURIComponent(csrf!)}`,
    });
    assert.equal(tried.status, 403);
    assert.deepEqual(await tried.json(), { code: 'console.forbidden', message: 'this needs the approver role, which your groups do not give' });

    // still pending for approver-1, who denies it
    await approver.goto(`${consoleUrl}/approvals`);
    const still = approver.locator('article.approval').filter({ hasText: 'DELETE FROM orders WHERE id = 5001' });
    assert.match(await still.locator('.quorum').innerText(), /^0 of 1 approval from dba/);
    await still.locator('form.deny input[name="reason"]').fill('keep this order');
    await still.locator('form.deny button').click();
    await approver.waitForURL(`${consoleUrl}/approvals`);
    const err = await held;
    assert.match(err.message, /^an approver denied this statement \(request [^)]+\): keep this order$/);
  });
});
