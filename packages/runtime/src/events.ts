import { randomUUID } from 'node:crypto';
import type { EventDescriptor } from '@airlock/contracts';
import type { Bus, EventInput, OutgoingEvent } from './bus.js';
import type { CallContext } from './context.js';
import { AirlockError } from './errors.js';
import type { Logger } from './logger.js';

/** An emitted event: its id, and when the stream stored it. */
export interface Emitted {
  readonly id: string;
  /** resolves once the stream stored the event; rejects only when it was given up (invalid, or unsent at shutdown) */
  readonly stored: Promise<void>;
}

/** An event waiting for its (next) publish. */
interface Queued {
  event: OutgoingEvent;
  id: string;
  attempt: number;
  resolve(): void;
  reject(err: Error): void;
}

/** How many queued events one pipelined publish writes at most. */
const maxBatch = 512;

/**
 * Publishes lifecycle events in batches: the events emitted in one turn of the event loop (by every session of the
 * process) are written to the connection together and their stream acks awaited together, a group commit that
 * costs one round trip for the lot. Each is retried (with its stable id, so JetStream de-duplicates) until the
 * stream stores it, across a NATS outage of any length while the process lives. The caller goes on at once; one that
 * must not answer before its record is durable waits with `stored()`. `flush()` waits for every outstanding one
 * (session end, shutdown); events still unsent when a shutdown gives up are logged by id, never dropped silently.
 */
export class EventPublisher {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();
  #queue: Queued[] = [];
  #scheduled = false;
  #stopping = false;

  constructor(bus: Bus, logger: Logger) {
    this.#bus = bus;
    this.#logger = logger;
  }

  emit<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): Emitted {
    const id = input.id ?? randomUUID();
    let settle: Pick<Queued, 'resolve' | 'reject'> | undefined;
    const stored = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // a caller that does not wait for the event must not see its loss as an unhandled rejection: it is logged
    const done: Promise<void> = stored.then(
      () => void this.#pending.delete(done),
      () => void this.#pending.delete(done),
    );
    this.#pending.add(done);
    const event: OutgoingEvent = { descriptor, input: { ...input, id } as EventInput<EventDescriptor>, ctx };
    this.#enqueue({ event, id, attempt: 0, ...settle! });
    return { id, stored };
  }

  /**
   * Resolves once the stream stored every one of `events`; rejects with `runtime.unavailable` when that takes longer
   * than `timeoutMs` (the events keep being retried) or one was given up.
   */
  async stored(events: readonly Emitted[], timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AirlockError('runtime.unavailable', `the event stream did not store ${events.length} event(s) within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(events.map((e) => e.stored)), late]);
    } catch (err) {
      throw err instanceof AirlockError && err.code === 'runtime.unavailable' ? err : new AirlockError('runtime.unavailable', 'an event was not stored by the event stream');
    } finally {
      clearTimeout(timer);
    }
  }

  #enqueue(item: Queued): void {
    this.#queue.push(item);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // after the current turn's I/O callbacks: what every session emitted meanwhile goes out in the same batch
    setImmediate(() => void this.#drain());
  }

  /** Publishes the queued events pipelined; each stored one is settled, each failed one retried after a pause. */
  async #drain(): Promise<void> {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, maxBatch);
    if (this.#queue.length > 0) this.#schedule();
    let results: Array<PromiseSettledResult<void>>;
    try {
      results = await this.#bus.publishAll(batch.map((q) => q.event));
    } catch (err) {
      // the stream could not be made ready: nothing in the batch was published
      results = batch.map(() => ({ status: 'rejected', reason: err }));
    }
    results.forEach((r, i) => (r.status === 'fulfilled' ? batch[i]!.resolve() : this.#failed(batch[i]!, r.reason)));
  }

  #failed(item: Queued, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const event = item.event.descriptor.event;
    if (err instanceof AirlockError) {
      // the event breaks its contract: no retry can make it valid
      this.#logger.error({ event, id: item.id, err: message }, 'event is invalid and was not published');
      item.reject(err);
      return;
    }
    if (this.#stopping || this.#bus.nc.isClosed()) {
      // the process is shutting down: nothing can publish any more, so say which event is lost
      this.#logger.error({ event, id: item.id, err: message }, 'event not published before shutdown');
      item.reject(new AirlockError('runtime.unavailable', 'the event was not published before shutdown'));
      return;
    }
    item.attempt += 1;
    if (item.attempt === 10) this.#logger.warn({ event, id: item.id }, 'event publishing keeps failing; still retrying');
    setTimeout(() => this.#enqueue(item), Math.min(5000, 50 * item.attempt));
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
