/**
 * A worker thread that runs some of a stack's services (`startStack`'s `apart`): its own event loop, so that the
 * services on it and those on the main thread use two cores. It talks to the thread that started it only to say it
 * started (with its ports) or failed, and to close when told; the services themselves talk over NATS as always.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AirlockConfig } from '@airlock/config';
import { createLogger, startServices, startTelemetry, type StartedServices } from '@airlock/runtime';
import { servicesNamed } from './registry.js';

/** What the starting thread hands over. */
export interface ThreadData {
  names: string[];
  env: Record<string, string | undefined>;
  config: AirlockConfig;
  logLevel: string;
}

/** What the thread says. */
export type ThreadMessage = { type: 'started'; ports: Record<string, number> } | { type: 'failed'; message: string } | { type: 'closed' };

async function main(): Promise<void> {
  const port = parentPort!;
  const { names, env, config, logLevel } = workerData as ThreadData;
  const logger = createLogger({ service: 'airlock', level: logLevel });
  const telemetry = await startTelemetry({ serviceName: 'airlock', env, logger });
  let started: StartedServices;
  try {
    started = await startServices(servicesNamed(names), env, { config, logger, telemetry });
  } catch (err) {
    await telemetry.shutdown();
    port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies ThreadMessage);
    return;
  }
  port.on('message', (m: { type: string }) => {
    if (m.type === 'close') {
      void started
        .close()
        .then(() => telemetry.shutdown())
        .finally(() => {
          port.postMessage({ type: 'closed' } satisfies ThreadMessage);
          port.close();
        });
    } else if (m.type === 'gc') {
      // only with --expose-gc: a benchmark reads memory after full collections on every thread
      (globalThis as { gc?: () => void }).gc?.();
    }
  });
  port.postMessage({ type: 'started', ports: started.ports } satisfies ThreadMessage);
}

await main();
