/**
 * The whole Airlock stack on the demo config in a process of its own, as `airlock up` runs it, so that its memory is
 * measured apart from the clients of a benchmark; with its own demo and state databases, subject root and lease roles,
 * all removed by `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { seedDemoDatabase } from '@airlock/cli';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { databaseUrl, deleteStream, dropDatabase, ephemeralPorts, rolesWithPrefix, withoutDemoSignIn } from '@airlock/testkit';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ProcessStack {
  pid: number;
  ports: Record<string, number>;
  /** the lease role prefix of the demo connection */
  prefix: string;
  token(subject: string, groups: string[]): Promise<string>;
  pgUrl(token: string): string;
  /** the stack process's resident memory, in MB */
  rssMb(): number;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

export async function startProcessStack(name: string): Promise<ProcessStack> {
  const suffix = randomBytes(4).toString('hex');
  const demoDb = `airlock_${name}_demo_${suffix}`;
  const stateDb = `airlock_${name}_state_${suffix}`;
  const prefix = `airlock_${name.slice(0, 1)}${suffix}_`;
  const subjectRoot = `${name}${suffix}`;
  const demoUrl = databaseUrl(demoDb);
  await seedDemoDatabase(demoUrl);
  // the console's demo sign-in runs only under `airlock up`
  const config = withoutDemoSignIn(parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>);
  config['connections']['demo']['adminUrl'] = demoUrl;
  config['connections']['demo']['leases']['rolePrefix'] = prefix;
  delete config['connections']['warehouse'];
  const dir = mkdtempSync(join(tmpdir(), `airlock-${name}-`));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const env = {
    DATABASE_URL: databaseUrl(stateDb),
    AIRLOCK_CONFIG: configPath,
    AIRLOCK_SUBJECT_ROOT: subjectRoot,
    AIRLOCK_LOG_LEVEL: 'warn',
    ...ephemeralPorts,
    AIRLOCK_DEMO: '1',
    AIRLOCK_STATE_DIR: join(dir, 'state'),
  };
  const boot = "import { startStack } from '@airlock/cli'; const s = await startStack(process.env); console.log('PORTS ' + JSON.stringify(s.ports));";
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', boot], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const started = Date.now();
  while (!/^PORTS (.*)$/m.test(out)) {
    if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`airlock did not start:\n${out.slice(-2000)}`);
    await sleep(100);
  }
  const ports = JSON.parse(/^PORTS (.*)$/m.exec(out)![1]!) as Record<string, number>;
  const pid = child.pid!;
  const key = await loadOrCreateDevKey(env);
  const settings = devIssuerSettings(parseConfig(readFileSync(configPath, 'utf8')));
  return {
    pid,
    ports,
    prefix,
    token: (subject, groups) => mintDevToken(key, settings, { subject, groups }),
    pgUrl: (token) => `postgresql://agent:${token}@127.0.0.1:${ports['pgwire']}/demo?sslmode=disable`,
    rssMb: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    close: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      await deleteStream(subjectRoot);
      for (const role of await rolesWithPrefix(prefix)) {
        const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
        await admin.connect();
        await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
        await admin.end();
      }
      await dropDatabase(demoDb);
      await dropDatabase(stateDb);
    },
  };
}
