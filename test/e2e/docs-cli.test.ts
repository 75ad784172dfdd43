// Docs that are tested: every `airlock` command line in a shell block of the README and docs/ is run against a test
// stack, exactly as written but for the placeholders (`<id>` becomes a real approval or session id) and the addresses
// of the stack, and must succeed; `export AIRLOCK_TOKEN=$(…)` lines set the token for the lines after them. Lines that
// need what a test machine does not have (Docker, Kubernetes, an operator's own config and credentials, a service left
// running) are listed below with the reason, and a command line that is neither run nor listed fails the test, so a
// new snippet cannot go untested by accident.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { demoConfigPath } from '@airlock/config';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** Command lines not run here, with the reason; matched against `file: command` (comment stripped). */
const NOT_RUN: ReadonlyArray<[RegExp, string]> = [
  [/^docs\/deploy\.md: .*docker compose/, 'needs a Docker engine (the compose file is checked by test/deploy/static.test.ts)'],
  [/^docs\/deploy\.md: (kubectl|helm) /, 'needs a Kubernetes cluster (the chart is checked by test/deploy/static.test.ts)'],
  [/^docs\/deploy\.md: DATABASE_URL=postgres:\/\/airlock_owner:…/, "an operator's own credentials (airlock migrate --roles is run by test/deploy/db-roles.test.ts)"],
  [/^docs\/audit\.md: DATABASE_URL=postgres:\/\/airlock_audit:…/, "an operator's own credentials; starts a service that keeps running"],
  [/^docs\/observability\.md: npx airlock run proxy$/, 'starts a service that keeps running (airlock run is exercised by test/scale)'],
  [/^docs\/policy-as-code\.md: AIRLOCK_CONFIG=airlock\.yaml npx airlock policy snapshot --connection prod/, "an operator's own connection (policy snapshot is run by packages/cli/test/policy-test.test.ts)"],
  [/^docs\/siem\.md: nats consumer add/, 'the NATS command-line tool, not part of Airlock'],
];

interface Line {
  where: string;
  command: string;
}

/** The lines of shell blocks that name airlock (or the tools around it), with comments stripped. */
function commandLines(file: string, markdown: string): Line[] {
  const out: Line[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)$/.test(lines[i]!.trim())) continue;
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const text = lines[i]!.replace(/\s+#\s.*$/, '').trim();
      if (/\bairlock\b/.test(text) && !text.startsWith('#') && /(npx airlock|airlock run|airlock\.js|nats |kubectl|helm )/.test(text)) out.push({ where: `${file}:${i + 1}`, command: text });
    }
  }
  return out;
}

const all = documents.flatMap((file) => commandLines(file, readFileSync(join(root, file), 'utf8')));
const excused = (l: Line) => NOT_RUN.find(([re]) => re.test(`${l.where.replace(/:\d+$/, '')}: ${l.command}`));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function sh(command: string, env: Record<string, string>, cwd: string, timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    // its own process group: Ctrl-C reaches npx and the command under it, as in a terminal
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGINT');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

describe('the airlock command lines of the README and docs/', () => {
  let t: TestStack;
  let env: Record<string, string>;
  /** pending approvals, one per line that decides one (show and the first approve share the first) */
  const pending: string[] = [];
  let sessionId: string;
  let policyDir: string;

  before(async () => {
    t = await startTestStack({
      configure: (config) => {
        // held statements answer "pending" at once, so the test need not wait for the hold
        config.approval = { ...config.approval, holdSeconds: 1 };
      },
    });
    env = {
      ...(process.env as Record<string, string>),
      ...t.env,
      AIRLOCK_APPROVAL_URL: `http://127.0.0.1:${t.ports['approval']}`,
      AIRLOCK_AUDIT_URL: `http://127.0.0.1:${t.ports['audit']}`,
    };
    delete env['AIRLOCK_TOKEN'];
    // three statements held for a dba, and one finished session of agent-1 with a refused read of customers
    const token = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(token) });
    await c.connect();
    c.on('notice', (n) => {
      const id = /request ([0-9a-f-]{36})/.exec(n.message ?? '')?.[1];
      if (id !== undefined) pending.push(id);
    });
    for (let i = 0; i < 3; i++) await c.query(`INSERT INTO orders (customer_id, total) VALUES (1, ${i + 1})`).catch(() => undefined);
    await c.query("SELECT id FROM customers WHERE ssn = '1'").catch(() => undefined);
    await c.end();
    assert.equal(pending.length, 3, 'three statements held for approval');
    sessionId = await eventually(async () => {
      const s = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
      await s.connect();
      try {
        const { rows } = await s.query("SELECT session_id FROM audit_events WHERE event_type = 'proxy.v1.session-closed' ORDER BY seq DESC LIMIT 1");
        return rows[0]?.session_id as string | undefined;
      } finally {
        await s.end();
      }
    }, 15_000, 'the session closed');
    // docs/policy-as-code.md runs an operator's own folder and config: the demo's, copied where its lines expect them
    policyDir = mkdtempSync(join(tmpdir(), 'airlock-docs-'));
    cpSync(join(root, 'deploy/config/policy-tests'), join(policyDir, 'policy-tests'), { recursive: true });
    cpSync(demoConfigPath, join(policyDir, 'airlock.yaml'));
  });
  after(async () => {
    await t?.close();
  });

  it('finds the command lines, and every one is run or excused with its reason', () => {
    assert.ok(all.length >= 20, `${all.length} command lines`);
    for (const [re, why] of NOT_RUN) assert.ok(all.some((l) => re.test(`${l.where.replace(/:\d+$/, '')}: ${l.command}`)), `the excuse "${why}" matches no line any more`);
  });

  it('each line runs and succeeds', async () => {
    let token: string | undefined;
    let approvals = 0;
    const failures: string[] = [];
    for (const line of all) {
      if (excused(line)) continue;
      let command = line.command;
      const cwd = line.where.startsWith('docs/policy-as-code.md') && /policy-tests|airlock\.yaml/.test(command) ? policyDir : root;
      if (/approvals (show|approve|deny) <id>/.test(command)) {
        const verb = /approvals (\w+)/.exec(command)![1];
        command = command.replace('<id>', pending[verb === 'show' ? 0 : approvals++]!);
      }
      command = command.replace('<id>', sessionId);
      // from another folder, npx finds the checkout's own airlock as a workspace would
      if (cwd !== root) command = command.replace(/^npx airlock /, `node ${join(root, 'packages/cli/bin/airlock.js')} `);
      const exported = /^export AIRLOCK_TOKEN=\$\((.*)\)$/.exec(command);
      const follows = /audit tail(?!.*--no-follow)/.test(command);
      const lineEnv: Record<string, string> = { ...env, ...(token ? { AIRLOCK_TOKEN: token } : {}) };
      // policy test runs offline, on the demo config unless the line names one, as on an operator's machine
      if (/airlock policy test/.test(line.command)) delete lineEnv['AIRLOCK_CONFIG'];
      const r = await sh(exported ? exported[1]! : command, lineEnv, cwd, follows ? 6_000 : 60_000);
      if (exported) token = r.stdout.trim().split('\n').at(-1);
      const ok = follows ? r.timedOut && r.stdout.trim() !== '' : r.code === 0 && !r.timedOut;
      if (!ok) failures.push(`${line.where}: ${line.command}\n  exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(approvals, 3, 'the approve and deny lines each decided a request of their own');
  });
});
