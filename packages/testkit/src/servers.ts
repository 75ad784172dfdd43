import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const natsBinary = process.env['AIRLOCK_TEST_NATS_SERVER'] ?? '/usr/sbin/nats-server';
const pgBin = process.env['AIRLOCK_TEST_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

/**
 * A server a fault test owns: it may stop, kill or restart it without disturbing the shared NATS and PostgreSQL
 * that other test files use at the same time.
 */
export interface OwnServer {
  url: string;
  port: number;
  /** a clean shutdown; the data stays for `start()` */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the data stays for `start()` */
  kill(): Promise<void>;
  /** starts it again on the same port with the same data */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** stops it and removes its data */
  destroy(): Promise<void>;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A JetStream-enabled `nats-server` on a free port with its own store directory. */
export async function startNatsServer(): Promise<OwnServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-nats-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn(natsBinary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    await waitForPort(port, 10_000, 'nats-server');
  };
  const signal = async (sig: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    await exited(c);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start,
    restart: async () => {
      await signal('SIGTERM');
      await start();
    },
    destroy: async () => {
      await signal('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PostgresClusterOptions {
  /** `max_connections` of the cluster (default 100) */
  maxConnections?: number;
}

/**
 * A PostgreSQL 15 cluster of its own (initdb, trust authentication, superuser `postgres`) on a free port; `url`
 * names its `postgres` database. As root the server runs as the `postgres` OS user, since initdb refuses root.
 */
export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<OwnServer & { databaseUrl(name: string): string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pg = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(pgBin, tool), ...args]) : run(join(pgBin, tool), args));
  await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${options.maxConnections ?? 100} -c fsync=off`;
  const running = async () => {
    try {
      await pg('pg_ctl', ['-D', data, 'status']);
      return true;
    } catch {
      return false;
    }
  };
  const start = async () => {
    if (await running()) return;
    await pg('pg_ctl', ['-D', data, '-o', serverOptions, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  };
  const stop = async () => {
    if (await running()) await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  };
  const kill = async () => {
    if (!(await running())) return;
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((await running()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  await start();
  const databaseUrl = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`;
  return {
    url: databaseUrl('postgres'),
    port,
    databaseUrl,
    stop,
    kill,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    destroy: async () => {
      await stop().catch(() => kill());
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
