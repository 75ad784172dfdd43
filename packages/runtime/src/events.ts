import type { EventDescriptor } from '@airlock/contracts';
import type { Bus, EventInput } from './bus.js';
import type { CallContext } from './context.js';
import type { Logger } from './logger.js';

/**
 * Publishes lifecycle events off the statement's critical path, retrying each until JetStream stores it;
 * `flush()` waits for every outstanding one (session end, shutdown) so none is lost on a clean stop.
 */
export class EventPublisher {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();

  constructor(bus: Bus, logger: Logger) {
    this.#bus = bus;
    this.#logger = logger;
  }

  emit<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): void {
    const p = this.#publish(descriptor, input, ctx).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async #publish<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): Promise<void> {
    // a stable id makes retries idempotent: JetStream de-duplicates on it
    const withId = { ...input, id: input.id ?? crypto.randomUUID() } as EventInput<D>;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#bus.publish(descriptor, withId, ctx);
        return;
      } catch (err) {
        if (attempt >= 30) {
          this.#logger.error({ event: descriptor.event, id: withId.id, err: err instanceof Error ? err.message : String(err) }, 'event could not be published');
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * attempt)));
      }
    }
  }

  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
