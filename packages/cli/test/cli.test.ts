import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfigPath } from '@airlock/config';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { freshDatabase } from '@airlock/testkit';
import { joinNegativeValues } from '../src/commands/token.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));

describe('airlock command line', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    db = await freshDatabase('airlock_cli');
  });
  after(async () => {
    await db.drop();
  });
  const airlock = (...args: string[]) => run(process.execPath, [bin, ...args], { env: { ...process.env, DATABASE_URL: db.url } });

  it('token prints one dev JWT on the last line with the requested claims', async () => {
    const { stdout } = await airlock('token', '--sub', 'agent-1', '--groups', 'analysts,pii-readers');
    const token = stdout.trim().split('\n').at(-1)!;
    const claims = decodeJwt(token);
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    assert.equal(claims.sub, 'agent-1');
    assert.equal(claims.iss, 'http://127.0.0.1:8083/dev');
    assert.equal(claims.aud, 'airlock');
    assert.deepEqual(claims['groups'], ['analysts', 'pii-readers']);
    assert.equal(claims.exp! - claims.iat!, 3600);
  });

  it('token accepts a negative --ttl and another audience', async () => {
    const { stdout } = await airlock('token', '--sub', 'a', '--groups', 'analysts', '--ttl', '-60', '--aud', 'http://127.0.0.1:8080/mcp');
    const claims = decodeJwt(stdout.trim().split('\n').at(-1)!);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(claims.exp! <= now - 55 && claims.exp! >= now - 70, 'expired about a minute ago');
    assert.equal(claims.aud, 'http://127.0.0.1:8080/mcp');
  });

  it("token refuses a lifetime above the development issuer's 24 h cap, with the cap in the message", async () => {
    await assert.rejects(
      airlock('token', '--sub', 'a', '--ttl', '86401'),
      (e: { code: number; stderr: string }) => e.code === 1 && /--ttl 86401 is above the development issuer's cap of 86400 seconds \(24 h\)/.test(e.stderr),
    );
    const { stdout } = await airlock('token', '--sub', 'a', '--ttl', '86400');
    const claims = decodeJwt(stdout.trim().split('\n').at(-1)!);
    assert.equal(claims.exp! - claims.iat!, 86400);
  });

  it('run refuses to start a service without AIRLOCK_CONFIG, and names the variable', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'run', 'policy'], { env: { ...process.env, DATABASE_URL: db.url, AIRLOCK_CONFIG: '', AIRLOCK_DEMO: '' } }),
      (e: { code: number; stderr: string }) => e.code === 1 && /AIRLOCK_CONFIG is required/.test(e.stderr),
    );
  });

  it('the development issuer refuses to run outside demo mode, even with the demo config given', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'run', 'identity'], {
        env: { ...process.env, DATABASE_URL: db.url, AIRLOCK_CONFIG: demoConfigPath, AIRLOCK_DEMO: '', AIRLOCK_IDENTITY_PORT: '0', AIRLOCK_METRICS_PORT: '0' },
      }),
      (e: { code: number; stderr: string }) => e.code === 1 && /identity\.devIssuer\.enabled: the development issuer mints any identity with any group, so it runs only in demo mode/.test(e.stderr),
    );
  });

  it('up refuses a bus that accepts connections without credentials outside the demo, unless the config allows it loudly', async () => {
    // the local test NATS server has no authentication
    const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
    const strict = join(dir, 'strict.yaml');
    writeFileSync(strict, readFileSync(demoConfigPath, 'utf8'));
    const env = { ...process.env, DATABASE_URL: db.url, AIRLOCK_DEMO: '', AIRLOCK_STATE_DIR: join(dir, 'state') };
    await assert.rejects(
      run(process.execPath, [bin, 'up'], { env: { ...env, AIRLOCK_CONFIG: strict } }),
      (e: { code: number; stderr: string }) =>
        e.code === 1 && /the NATS server at nats:\/\/127\.0\.0\.1:4222 accepts connections without credentials/.test(e.stderr) && /bus\.allowUnauthenticated: true/.test(e.stderr),
    );
    const allowing = join(dir, 'allowing.yaml');
    writeFileSync(allowing, `${readFileSync(demoConfigPath, 'utf8')}\nbus:\n  allowUnauthenticated: true\n`);
    // past the bus check with a warning; it then stops on the development issuer, which needs demo mode
    await assert.rejects(
      run(process.execPath, [bin, 'up'], { env: { ...env, AIRLOCK_CONFIG: allowing, AIRLOCK_METRICS_PORT: '0', AIRLOCK_IDENTITY_PORT: '0', AIRLOCK_LOG_LEVEL: 'warn' } }),
      (e: { code: number; stdout: string; stderr: string }) =>
        e.code === 1 && /WARNING: the bus accepts connections without credentials/.test(e.stdout + e.stderr) && /identity\.devIssuer\.enabled/.test(e.stderr),
    );
  });

  it('up refuses the demo in the production image (NODE_ENV=production) without AIRLOCK_CONFIG', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'up'], { env: { ...process.env, DATABASE_URL: db.url, AIRLOCK_CONFIG: '', NODE_ENV: 'production' } }),
      (e: { code: number; stderr: string }) => e.code === 1 && /AIRLOCK_CONFIG is required/.test(e.stderr),
    );
  });

  it('token without --sub fails with the usage', async () => {
    await assert.rejects(airlock('token'), (e: { code: number; stderr: string }) => e.code === 1 && /--sub is required/.test(e.stderr));
  });

  it('policy check explains a decision, lineage and masking offline', async () => {
    const { stdout } = await airlock(
      'policy', 'check', '--connection', 'demo', '--as', 'agent-1', '--groups', 'analysts',
      '--sql', 'SELECT c.name, upper(c.email) AS e, c.card_number FROM customers c',
    );
    assert.match(stdout, /^decision: {2}allow$/m);
    assert.match(stdout, /^rule: {6}analysts-read$/m);
    assert.match(stdout, /^ {2}2\. e {2}← public\.customers\.email {2}→ redact$/m);
    assert.match(stdout, /^ {2}3\. card_number {2}← public\.customers\.card_number {2}→ partial 4$/m);
    assert.match(stdout, /^allow-list:\n {2}function upper \(scalar\): allowed — computes from its arguments$/m);
  });

  it('policy check --json prints the decision alone on stdout, the catalogue note on stderr', async () => {
    // a subject root nobody serves: the credential service cannot answer, so the note is printed
    const { stdout, stderr } = await run(process.execPath, [bin, 'policy', 'check', '--connection', 'demo', '--groups', 'analysts', '--json', '--sql', 'SELECT name, email FROM customers'], {
      env: { ...process.env, DATABASE_URL: db.url, AIRLOCK_SUBJECT_ROOT: `nobody${process.pid}` },
    });
    const decision = JSON.parse(stdout) as { outcome: string; masking: { columns: Array<{ index: number; action: { kind: string } | null }> } };
    assert.equal(decision.outcome, 'allow');
    assert.deepEqual(decision.masking.columns.map((c) => [c.index, c.action?.kind ?? null]), [[0, null], [1, 'email']]);
    assert.match(stderr, /^note: the credential service did not answer/m);
  });

  it('policy check exits 2 and names the rule for a denial', async () => {
    await assert.rejects(
      airlock('policy', 'check', '--connection', 'demo', '--as', 'agent-1', '--groups', 'analysts', '--sql', 'DROP TABLE orders'),
      (e: { code: number; stdout: string }) => e.code === 2 && /^rule: {6}refuse-ddl$/m.test(e.stdout),
    );
  });

  it('policy check shows the allow-list verdict of each function and setting', async () => {
    await assert.rejects(
      airlock('policy', 'check', '--connection', 'demo', '--as', 'agent-1', '--groups', 'analysts', '--sql', "SELECT word FROM ts_stat('SELECT 1')"),
      (e: { code: number; stdout: string }) =>
        e.code === 2 &&
        /^decision: {2}deny \(policy\.forbidden_function\)$/m.test(e.stdout) &&
        /^ {2}function ts_stat \(sql-from-text\): refused — runs SQL held in a string/m.test(e.stdout),
    );
    await assert.rejects(
      airlock('policy', 'check', '--connection', 'demo', '--as', 'agent-1', '--groups', 'analysts', '--sql', 'SET standard_conforming_strings = off'),
      (e: { code: number; stdout: string }) => e.code === 2 && /^ {2}setting standard_conforming_strings \(pinned\): refused — changes how the server reads/m.test(e.stdout),
    );
  });

  it('joins negative values to their flag only', () => {
    assert.deepEqual(joinNegativeValues(['--ttl', '-60', '--sub', 'x'], ['--ttl']), ['--ttl=-60', '--sub', 'x']);
    assert.deepEqual(joinNegativeValues(['--sub', '-x'], ['--ttl']), ['--sub', '-x']);
  });
});
