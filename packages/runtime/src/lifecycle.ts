import type { Logger } from './logger.js';

/** Things to close on shutdown, closed in reverse order of registration, each at most once. */
export class Lifecycle {
  readonly #closers: Array<{ name: string; close: () => Promise<void> }> = [];
  #closing: Promise<void> | undefined;

  add(name: string, close: () => Promise<void>): void {
    this.#closers.push({ name, close });
  }

  close(logger?: Logger): Promise<void> {
    this.#closing ??= (async () => {
      for (const c of this.#closers.splice(0).reverse()) {
        try {
          await c.close();
        } catch (err) {
          logger?.warn({ component: c.name, err: err instanceof Error ? err.message : String(err) }, 'close failed');
        }
      }
    })();
    return this.#closing;
  }
}

/** Installs SIGINT/SIGTERM handlers that close the lifecycle once, then exit. Only main.ts files call this. */
export function closeOnSignals(lifecycle: Lifecycle, logger: Logger, proc: NodeJS.Process = process): void {
  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      proc.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'shutting down: draining NATS, finishing in-flight work, closing pools');
    const timer = setTimeout(() => {
      logger.error('shutdown took longer than 20 s; exiting');
      proc.exit(1);
    }, 20_000);
    timer.unref();
    lifecycle.close(logger).then(
      () => proc.exit(0),
      () => proc.exit(1),
    );
  };
  proc.on('SIGINT', onSignal);
  proc.on('SIGTERM', onSignal);
}
