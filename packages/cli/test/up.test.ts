// `airlock up` on the demo, as `npm start` runs it (its own process), with every port moved so that it runs beside
// a demo already up: the banner names the console and its demo users, and both the console and the demo's OIDC
// provider answer where it says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteStream, dropDatabase, freshDatabase, natsUrl, uniqueSuffix, databaseUrl } from '@airlock/testkit';

const bin = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));

describe('airlock up on the demo', { timeout: 180_000 }, () => {
  let state: Awaited<ReturnType<typeof freshDatabase>>;
  const demoDb = `airlock_demo_up_${uniqueSuffix()}`;
  const root = `up${uniqueSuffix()}`;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-up-'));
  let child: ChildProcess;
  let out = '';

  before(async () => {
    state = await freshDatabase('airlock_up');
    child = spawn(process.execPath, [bin, 'up'], {
      env: {
        ...process.env,
        NATS_URL: natsUrl,
        DATABASE_URL: state.url,
        AIRLOCK_CONFIG: '',
        AIRLOCK_DEMO_ADMIN_URL: databaseUrl(demoDb),
        AIRLOCK_SUBJECT_ROOT: root,
        AIRLOCK_STATE_DIR: join(dir, 'state'),
        AIRLOCK_LOG_LEVEL: 'warn',
        // the Snowflake connection points nowhere: this test is about the console
        AIRLOCK_WAREHOUSE_URL: 'http://127.0.0.1:9',
        ...Object.fromEntries(
          ['PGWIRE', 'HTTP', 'IDENTITY', 'APPROVAL', 'AUDIT', 'CREDENTIAL', 'CONSOLE', 'METRICS', 'DEMO_SIGN_IN'].map((p) => [`AIRLOCK_${p}_PORT`, '0']),
        ),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const deadline = Date.now() + 120_000;
    while (!out.includes('Stop with Ctrl-C.')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`airlock up did not start:\n${out}\n${err.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await deleteStream(root);
    await dropDatabase(demoDb);
    await state?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the console URL on a line with the word console, and the demo users with their passwords', async () => {
    const line = out.split('\n').find((l) => /\bconsole\b/.test(l));
    assert.ok(line, out);
    const m = /^ {2}console {17}(http:\/\/127\.0\.0\.1:(\d+)) {2}\(sign in with a demo user below\)$/.exec(line);
    assert.ok(m, line);
    const consoleUrl = m[1]!;
    const people = [...out.matchAll(/^ {4}(\S+) +password (\S+) {2}\(group (\S+)\)$/gm)].map((p) => ({ name: p[1], password: p[2], group: p[3] }));
    assert.deepEqual(people.map((p) => [p.name, p.group]), [['approver-1', 'dba'], ['auditor-1', 'auditors']]);
    for (const p of people) assert.match(p.password!, /^[A-Za-z0-9_-]{12}$/);

    // the console answers, and its sign-in goes to the demo's own provider with PKCE, back to this console
    assert.equal((await fetch(`${consoleUrl}/login`)).status, 200);
    const start = await fetch(`${consoleUrl}/auth/oidc/start`, { redirect: 'manual' });
    assert.equal(start.status, 303);
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.searchParams.get('client_id'), 'airlock-console');
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${consoleUrl}/auth/oidc/callback`);
    const discovery = (await (await fetch(`${authorize.origin}/.well-known/openid-configuration`)).json()) as { issuer: string };
    assert.equal(discovery.issuer, authorize.origin);
    assert.equal(authorize.hostname, '127.0.0.1');
  });
});
