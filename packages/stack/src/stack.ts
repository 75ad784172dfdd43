import { Worker } from 'node:worker_threads';
import type { AirlockConfig } from '@airlock/config';
import { commonEnv, createLogger, loadConfigFromEnv, readEnv, startServices, startTelemetry, type Logger, type RunningService, type ServiceDefinition } from '@airlock/runtime';
import { allServices, servicesNamed, type ServiceName } from './registry.js';
import type { ThreadData, ThreadMessage } from './thread.js';

export interface Stack {
  /** the services on the calling thread (those `apart` run on threads of their own and are not listed) */
  services: RunningService[];
  ports: Record<string, number>;
  config: AirlockConfig;
  /** asks every thread of the stack for a full garbage collection (only with --expose-gc; for benchmarks) */
  collectGarbage(): void;
  close(): Promise<void>;
}

export interface StackOptions {
  logger?: Logger;
  /** the services to start, by name (default: all of them) */
  names?: readonly ServiceName[];
  /** the services to start, by definition (instead of `names`) */
  services?: readonly ServiceDefinition[];
  /** the loaded config; default: the file AIRLOCK_CONFIG names (there is no fallback to the demo's) */
  config?: AirlockConfig;
  /**
   * Services that run on a worker thread of their own, each with its own event loop (so a second core serves them),
   * started after the others and closed before them. Only with `names` or all services.
   */
  apart?: readonly ServiceName[];
}

/**
 * What `airlock up` runs apart: the proxy, whose data path is most of the work per statement, on a thread of its
 * own; the other services share the main thread. One process still, so one `npm start`.
 */
export const upApart: readonly ServiceName[] = ['proxy'];

/** Services in one process, each with its own bus connection and pool, over the real NATS and PostgreSQL. */
export async function startStack(env: Record<string, string | undefined>, options: StackOptions = {}): Promise<Stack> {
  const common = readEnv(env, commonEnv);
  const config = options.config ?? loadConfigFromEnv(env);
  const logger = options.logger ?? createLogger({ service: 'airlock', level: common.logLevel });
  // one trace exporter for the thread: the OpenTelemetry API has one global tracer provider
  const telemetry = await startTelemetry({ serviceName: 'airlock', env, logger });
  const apart = options.services ? [] : (options.apart ?? []).filter((name) => !options.names || options.names.includes(name));
  const names = options.names ?? allServices.map((d) => d.name as ServiceName);
  const definitions = options.services ?? servicesNamed(names.filter((name) => !apart.includes(name)));
  let started;
  try {
    started = await startServices(definitions, env, { config, logger, telemetry });
  } catch (err) {
    await telemetry.shutdown();
    throw err;
  }
  const threads: ServiceThread[] = [];
  let closing: Promise<void> | undefined;
  // once, however often it is asked
  const close = () =>
    (closing ??= (async () => {
      // the threads apart first (the proxy: its sessions revoke their leases while the credential service still runs)
      for (const t of [...threads].reverse()) await t.close();
      await started.close();
      await telemetry.shutdown();
    })());
  const ports = { ...started.ports };
  try {
    for (const name of apart) {
      const t = await startThread([name], { names: [name], env, config, logLevel: common.logLevel }, logger);
      threads.push(t);
      Object.assign(ports, t.ports);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    services: started.services,
    ports,
    config,
    collectGarbage: () => {
      (globalThis as { gc?: () => void }).gc?.();
      for (const t of threads) t.worker.postMessage({ type: 'gc' });
    },
    close,
  };
}

interface ServiceThread {
  worker: Worker;
  ports: Record<string, number>;
  close(): Promise<void>;
}

/**
 * Starts services on a worker thread. A thread that stops unasked (an error no service caught) stops the process
 * the way a signal does, so that the other services close in order and nothing runs half a stack.
 */
async function startThread(names: string[], data: ThreadData, logger: Logger): Promise<ServiceThread> {
  // the process's flags, but not how its own entry was given (`-e` with `--input-type`: the thread's entry is a file)
  // nor V8's (`--expose-gc`), which a worker may not be given and which apply to every thread of the process anyway
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && a !== '--expose-gc');
  const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: data, execArgv });
  let closing = false;
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`the thread of ${names.join(', ')} stopped while starting (exit code ${code})`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: ThreadMessage) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      if (m.type === 'started') resolve(m.ports);
      else reject(new Error(m.type === 'failed' ? m.message : `unexpected message from the thread of ${names.join(', ')}`));
    });
  });
  worker.on('error', (err) => logger.error({ err: err.message, services: names }, 'a service thread failed'));
  worker.on('exit', (code) => {
    if (closing) return;
    logger.error({ code, services: names }, 'a service thread stopped unasked: stopping the process');
    process.kill(process.pid, 'SIGTERM');
  });
  return {
    worker,
    ports,
    close: async () => {
      if (closing) return;
      closing = true;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      const closed = new Promise<void>((resolve) => worker.on('message', (m: ThreadMessage) => m.type === 'closed' && resolve()));
      worker.postMessage({ type: 'close' });
      await Promise.race([closed, exited]);
      await worker.terminate();
    },
  };
}
