import type { EventDescriptor } from '@airlock/contracts';
import type { Bus, EventInput } from './bus.js';
import type { CallContext } from './context.js';
import type { Logger } from './logger.js';

/**
 * Publishes lifecycle events off the caller's critical path, retrying each (with its stable id, so JetStream
 * de-duplicates) until the stream stores it — across a NATS outage of any length while the process lives.
 * `flush()` waits for every outstanding one (session end, shutdown); events still unsent when a shutdown gives up
 * are logged by id, never dropped silently.
 */
export class EventPublisher {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();
  #stopping = false;

  constructor(bus: Bus, logger: Logger) {
    this.#bus = bus;
    this.#logger = logger;
  }

  emit<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): void {
    const p = this.#publish(descriptor, input, ctx).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async #publish<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): Promise<void> {
    const withId = { ...input, id: input.id ?? crypto.randomUUID() } as EventInput<D>;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#bus.publish(descriptor, withId, ctx);
        return;
      } catch (err) {
        if (this.#stopping || this.#bus.nc.isClosed()) {
          // the process is shutting down: nothing can publish any more, so say which event is lost
          this.#logger.error({ event: descriptor.event, id: withId.id, err: err instanceof Error ? err.message : String(err) }, 'event not published before shutdown');
          return;
        }
        if (attempt === 10) this.#logger.warn({ event: descriptor.event, id: withId.id }, 'event publishing keeps failing; still retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * attempt)));
      }
    }
  }

  /** Waits for every outstanding event; after `timeoutMs` the rest get one last attempt and are logged if it fails. */
  async flush(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.size > 0) {
      if (Date.now() > deadline) this.#stopping = true;
      await Promise.race([Promise.allSettled([...this.#pending]), new Promise((r) => setTimeout(r, 250))]);
    }
  }
}
