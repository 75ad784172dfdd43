import { DeliverPolicy } from '@nats-io/jetstream';
import { allEventsSubject } from '@airlock/contracts';
import { decodeJson, type Bus, type Logger } from '@airlock/runtime';

/** What the console tells a browser about one event: its kind and ids, never its payload values. */
export interface LiveEvent {
  type: string;
  id: string | null;
  time: string | null;
  sessionId: string | null;
  subject: string | null;
}

type Listener = (e: LiveEvent) => void;

/**
 * Follows the event stream with one ephemeral ordered consumer per console (from now on: history is the audit API's
 * job) and fans each event out to the open Server-Sent Event connections.
 */
export class LiveEvents {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #listeners = new Set<Listener>();
  #stop: (() => Promise<void>) | undefined;

  constructor(bus: Bus, logger: Logger) {
    this.#bus = bus;
    this.#logger = logger;
  }

  async start(): Promise<void> {
    await this.#bus.ensureStream();
    const consumer = await this.#bus.js.consumers.get(this.#bus.streamName, {
      filter_subjects: allEventsSubject(this.#bus.root),
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    const prefix = `${this.#bus.root}.evt.`;
    const loop = (async () => {
      for await (const m of messages) {
        let payload: Record<string, unknown> = {};
        try {
          const decoded = decodeJson(m.data);
          if (decoded && typeof decoded === 'object') payload = decoded as Record<string, unknown>;
        } catch {
          // an undecodable event is still announced by its type
        }
        const principal = payload['principal'] as { subject?: unknown } | undefined;
        const event: LiveEvent = {
          type: m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : m.subject,
          id: typeof payload['id'] === 'string' ? payload['id'] : null,
          time: typeof payload['time'] === 'string' ? payload['time'] : null,
          sessionId: typeof payload['sessionId'] === 'string' ? payload['sessionId'] : null,
          subject: typeof principal?.subject === 'string' ? principal.subject : null,
        };
        for (const l of this.#listeners) l(event);
      }
    })().catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'live event stream ended'));
    this.#stop = async () => {
      await messages.close();
      await loop;
    };
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#stop?.();
  }
}
