import { DeliverPolicy } from '@nats-io/jetstream';
import { allEventsSubject } from '@airlock/contracts';
import { AirlockError, decodeJson, type Bus, type Logger } from '@airlock/runtime';

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
 * job) and fans each event out to the open Server-Sent Event connections. The consumer exists only while a connection
 * listens: every event would otherwise cost the stream a delivery and this process a decode, statement after
 * statement, for pages nobody has open.
 */
export class LiveEvents {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #listeners = new Set<Listener>();
  /** the open consumer: how to close it, and whether it ended on its own */
  #open: { close(): Promise<void>; ended: boolean } | undefined;
  /** opening and closing the consumer, one after the other: the last one settles what the listeners want */
  #changing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(bus: Bus, logger: Logger) {
    this.#bus = bus;
    this.#logger = logger;
  }

  /**
   * Adds a listener; resolves once the stream is followed, so every event published after it resolves reaches the
   * listener. Returns its removal; the consumer closes once the last listener is removed.
   */
  async subscribe(listener: Listener): Promise<() => void> {
    if (this.#closed) throw new AirlockError('runtime.unavailable', 'the console is shutting down');
    this.#listeners.add(listener);
    try {
      await this.#settle();
      // closed while the consumer opened: the close has cleared the listeners and ended the streams already
      if (this.#closed) throw new AirlockError('runtime.unavailable', 'the console is shutting down');
    } catch (err) {
      this.#listeners.delete(listener);
      void this.#settle().catch(() => undefined);
      throw err;
    }
    return () => {
      if (!this.#listeners.delete(listener)) return;
      this.#settle().catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'closing the live event consumer failed'));
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#settle().catch(() => undefined);
  }

  /** Opens the consumer when someone listens and none is open, closes it when nobody listens; one change at a time. */
  #settle(): Promise<void> {
    const next = this.#changing.then(async () => {
      const wanted = this.#listeners.size > 0 && !this.#closed;
      if (wanted && (!this.#open || this.#open.ended)) this.#open = await this.#follow();
      if (!wanted && this.#open) {
        const open = this.#open;
        this.#open = undefined;
        await open.close();
      }
    });
    // a failed change does not stop the next one from being tried
    this.#changing = next.catch(() => undefined);
    return next;
  }

  async #follow(): Promise<{ close(): Promise<void>; ended: boolean }> {
    await this.#bus.ensureStream();
    // an ordered consumer made again before its first message (NATS restarted, say) starts over from the stream's
    // first event: what was in the stream before it opened is history, not news, and is skipped
    const before = (await (await this.#bus.js.jetstreamManager()).streams.info(this.#bus.streamName)).state.last_seq;
    // the server makes the consumer, starting at the stream's next event, before this resolves
    const consumer = await this.#bus.js.consumers.get(this.#bus.streamName, {
      filter_subjects: allEventsSubject(this.#bus.root),
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    const prefix = `${this.#bus.root}.evt.`;
    let stopping = false;
    const handle = { close: async () => undefined as void, ended: false };
    const loop = (async () => {
      for await (const m of messages) {
        if (m.seq <= before) continue;
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
    })()
      .catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'live event stream ended'))
      .finally(() => {
        handle.ended = true;
        if (stopping) return;
        // ended on its own (the library gave up making it again): the pages still open get a new one
        this.#settle().catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'opening the live event consumer again failed'));
      });
    handle.close = async () => {
      stopping = true;
      await messages.close();
      await loop;
      // ephemeral: the server would drop it after its inactivity threshold anyway; removed now so nothing is held
      await consumer.delete().catch(() => undefined);
    };
    return handle;
  }
}
