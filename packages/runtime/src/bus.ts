import { randomUUID } from 'node:crypto';
import { connect, headers as natsHeaders, type MsgHdrs, type NatsConnection, type Msg } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  ErrorEnvelope,
  Headers,
  allEventsSubject,
  eventSubject,
  requestSubject,
  type EventDescriptor,
  type PayloadOf,
  type RequestDescriptor,
  type RequestOf,
  type ResponseOf,
} from '@airlock/contracts';
import { Validator, decodeJson, encodeJson } from './codec.js';
import { AirlockError, toEnvelope } from './errors.js';
import { isTraceparent, newContext, type CallContext } from './context.js';
import type { Logger } from './logger.js';
import { Counter, Histogram, Registry, latencyBuckets } from './metrics.js';
import { SpanKind, Tracing } from './telemetry.js';
import { StreamAcks } from './stream-acks.js';

export interface BusOptions {
  url: string;
  /** subject root, `airlock` by default */
  root: string;
  /** the service name: queue group `airlock-<service>` and the NATS connection name */
  service: string;
  logger: Logger;
  /** NATS user credentials when the server enforces per-service permissions */
  user?: string;
  pass?: string;
  /** event stream retention in seconds (0 = unlimited) */
  eventRetentionSeconds?: number;
  /** the service's metrics registry: requests served, by operation and outcome */
  metrics?: Registry;
}

export type Handler<D extends RequestDescriptor> = (request: RequestOf<D>, ctx: CallContext) => Promise<ResponseOf<D>>;

export interface ConsumedEvent {
  subject: string;
  payload: unknown;
  ctx: CallContext;
  /** how many times JetStream delivered this message */
  deliveryCount: number;
  /** the stream sequence, strictly increasing in publish order */
  streamSequence: number;
}

/** Input of publish: id and time are filled in when absent. */
export type EventInput<D extends EventDescriptor> = Omit<PayloadOf<D>, 'id' | 'time'> & { id?: string; time?: string };

/** One event of a pipelined publish. */
export interface OutgoingEvent {
  descriptor: EventDescriptor;
  input: EventInput<EventDescriptor>;
  ctx?: CallContext | undefined;
}

export function streamName(root: string): string {
  return `${root.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_EVENTS`;
}

/**
 * The NATS wiring every service shares: serve and call request subjects with validation on both sides,
 * publish events to JetStream, consume them durably. Errors cross the bus as the ErrorEnvelope in the body
 * plus the `Nats-Service-Error(-Code)` headers.
 */
export class Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly root: string;
  readonly service: string;
  /** the service's spans: one server span per request served, one client span per call */
  readonly tracing: Tracing;
  readonly #jsm: JetStreamManager;
  readonly #logger: Logger;
  readonly #validator: Validator = new Validator();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #stops: Array<() => Promise<void>> = [];
  readonly #retentionSeconds: number;
  readonly #served: Counter<'operation' | 'code'>;
  readonly #serveSeconds: Histogram<'operation'>;
  #streamReady: Promise<void> | undefined;
  readonly #inboxPrefix: string | undefined;
  /** made at the first publish: a service that never publishes an event holds no reply subscription for one */
  #acks: StreamAcks | undefined;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, options: BusOptions) {
    this.nc = nc;
    this.#jsm = jsm;
    this.js = jetstream(nc);
    this.root = options.root;
    this.service = options.service;
    this.#logger = options.logger;
    this.#retentionSeconds = options.eventRetentionSeconds ?? 0;
    this.#inboxPrefix = options.user ? inboxPrefixOf(options.service) : undefined;
    this.tracing = new Tracing(options.service);
    const registers = [options.metrics ?? new Registry()];
    this.#served = new Counter({
      name: 'airlock_bus_requests_total',
      help: 'Bus requests this process served, by operation and outcome (ok or the Airlock error code)',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.#serveSeconds = new Histogram({
      name: 'airlock_bus_request_duration_seconds',
      help: 'Time to serve one bus request, by operation',
      labelNames: ['operation'],
      buckets: latencyBuckets,
      registers,
    });
  }

  static async connect(options: BusOptions): Promise<Bus> {
    const nc = await connect({
      servers: options.url,
      name: `airlock-${options.service}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // no stack captured for every request and its timer (a RequestError and a TimeoutError built per call, about
      // 2% of a busy process's CPU): a failed request still says what failed, it loses only the caller's async stack
      noAsyncTraces: true,
      // a per-service inbox prefix lets the server's permissions grant each user replies on its own inboxes only
      ...(options.user ? { user: options.user, pass: options.pass ?? '', inboxPrefix: inboxPrefixOf(options.service) } : {}),
    });
    const jsm = await jetstreamManager(nc);
    const bus = new Bus(nc, jsm, options);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
          options.logger.warn({ nats: s.type }, 'nats connection status changed');
        }
      }
    })();
    return bus;
  }

  get queueGroup(): string {
    return `airlock-${this.service}`;
  }

  get streamName(): string {
    return streamName(this.root);
  }

  /** Creates the event stream if it does not exist yet; idempotent and safe across copies. */
  ensureStream(): Promise<void> {
    this.#streamReady ??= (async () => {
      const subjects = [allEventsSubject(this.root)];
      const config = {
        name: this.streamName,
        subjects,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: this.#retentionSeconds * 1_000_000_000,
        duplicate_window: 120 * 1_000_000_000,
      };
      try {
        await this.#jsm.streams.info(this.streamName);
      } catch {
        try {
          await this.#jsm.streams.add(config);
        } catch (err) {
          // another copy may have created it between info and add
          await this.#jsm.streams.info(this.streamName).catch(() => {
            throw err;
          });
        }
      }
    })().catch((err: unknown) => {
      this.#streamReady = undefined;
      throw err;
    });
    return this.#streamReady;
  }

  /** Serves a request subject in the service's queue group; async errors are caught and answered as the envelope. */
  serve<D extends RequestDescriptor>(descriptor: D, handler: Handler<D>): void {
    const subject = requestSubject(this.root, descriptor);
    const sub = this.nc.subscribe(subject, {
      queue: this.queueGroup,
      callback: (err, msg) => {
        if (err) {
          this.#logger.error({ err: err.message, subject }, 'subscription error');
          return;
        }
        const p = this.#handle(descriptor, handler, msg).finally(() => this.#inflight.delete(p));
        this.#inflight.add(p);
      },
    });
    this.#stops.push(async () => {
      await sub.drain();
    });
  }

  async #handle<D extends RequestDescriptor>(descriptor: D, handler: Handler<D>, msg: Msg): Promise<void> {
    const operation = `${descriptor.family}.${descriptor.version}.${descriptor.operation}`;
    const span = this.tracing.start(`serve ${operation}`, contextFrom(msg.headers), {
      kind: SpanKind.SERVER,
      attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'process', 'messaging.destination.name': msg.subject },
    });
    const ctx = span.ctx;
    const started = performance.now();
    let code = 'ok';
    try {
      const body = decodeJson(msg.data);
      this.#validator.assert(descriptor.request, body, `${descriptor.family}.${descriptor.operation} request`);
      const response = await handler(body as RequestOf<D>, ctx);
      this.#validator.assert(
        descriptor.response,
        response,
        `${descriptor.family}.${descriptor.operation} response`,
        'runtime.invalid_response',
      );
      msg.respond(encodeJson(response), { headers: contextHeaders(ctx) });
      span.end();
    } catch (err) {
      const envelope = toEnvelope(err);
      code = envelope.code;
      span.end(err);
      if (envelope.code === 'runtime.internal' || envelope.code === 'runtime.invalid_response') {
        this.#logger.error(
          { requestId: ctx.requestId, subject: msg.subject, err: err instanceof Error ? err.message : String(err) },
          'request handler failed',
        );
      }
      const h = contextHeaders(ctx);
      h.set(Headers.errorCode, envelope.code);
      h.set(Headers.error, envelope.message.slice(0, 200));
      msg.respond(encodeJson(envelope), { headers: h });
    } finally {
      const ms = performance.now() - started;
      this.#served.inc({ operation, code });
      this.#serveSeconds.observe({ operation }, ms / 1000);
      this.#logger.debug({ requestId: ctx.requestId, op: `${descriptor.family}.${descriptor.operation}`, ms }, 'served');
    }
  }

  /** Calls a request subject; resolves with the validated response or rejects with an AirlockError. */
  async call<D extends RequestDescriptor>(
    descriptor: D,
    request: RequestOf<D>,
    ctx: CallContext,
    options: { timeoutMs?: number } = {},
  ): Promise<ResponseOf<D>> {
    const subject = requestSubject(this.root, descriptor);
    return this.tracing.run(
      `call ${descriptor.family}.${descriptor.version}.${descriptor.operation}`,
      ctx,
      { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'send', 'messaging.destination.name': subject } },
      (span) => this.#call(descriptor, subject, request, span.ctx, options.timeoutMs ?? 10_000),
    );
  }

  async #call<D extends RequestDescriptor>(descriptor: D, subject: string, request: RequestOf<D>, ctx: CallContext, timeoutMs: number): Promise<ResponseOf<D>> {
    this.#validator.assert(descriptor.request, request, `${descriptor.family}.${descriptor.operation} request`);
    // the client span's own context: the server span becomes its child
    const h = contextHeaders(ctx);
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, encodeJson(request), { timeout: timeoutMs, headers: h });
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      const message = err instanceof Error ? err.message : String(err);
      if (name === 'TimeoutError' || /timeout/i.test(message)) {
        throw new AirlockError('runtime.timeout', `the ${descriptor.family} service did not answer in time; retry the statement`);
      }
      throw new AirlockError(
        'runtime.unavailable',
        `the ${descriptor.family} service is not reachable (${name || 'no responders'}); retry the statement shortly`,
      );
    }
    const body = decodeJson(reply.data);
    if (reply.headers?.get(Headers.errorCode)) {
      if (this.#validator.check(ErrorEnvelope, body)) throw AirlockError.fromEnvelope(body);
      throw new AirlockError('runtime.invalid_response', `the ${descriptor.family} service answered a malformed error`);
    }
    this.#validator.assert(
      descriptor.response,
      body,
      `${descriptor.family}.${descriptor.operation} response`,
      'runtime.invalid_response',
    );
    return body as ResponseOf<D>;
  }

  /** Publishes an event to JetStream, de-duplicated on its id; resolves once the stream stored it. */
  async publish<D extends EventDescriptor>(descriptor: D, input: EventInput<D>, ctx?: CallContext): Promise<PayloadOf<D>> {
    const prepared = this.#prepare(descriptor, input as EventInput<EventDescriptor>, ctx);
    await this.ensureStream();
    await this.#streamAcks().publish(prepared.subject, prepared.data, prepared.headers);
    return prepared.payload as unknown as PayloadOf<D>;
  }

  /**
   * Publishes events pipelined: each is validated against its contract, then all are written to the connection at
   * once and their stream acks awaited together, one round trip for the lot instead of one per event. Settles for
   * each event in order: fulfilled once the stream stored it, rejected when it is invalid or was not acknowledged.
   */
  async publishAll(events: readonly OutgoingEvent[]): Promise<Array<PromiseSettledResult<void>>> {
    const prepared = events.map((e) => {
      try {
        return this.#prepare(e.descriptor, e.input, e.ctx);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    await this.ensureStream();
    const acks = this.#streamAcks();
    return Promise.allSettled(
      prepared.map(async (p) => {
        if (p instanceof Error) throw p;
        await acks.publish(p.subject, p.data, p.headers);
      }),
    );
  }

  /** An event's payload (id and time filled in, validated against its contract), subject, bytes and headers. */
  #prepare(descriptor: EventDescriptor, input: EventInput<EventDescriptor>, ctx: CallContext | undefined) {
    const id = input.id ?? randomUUID();
    const payload = { ...input, id, time: input.time ?? new Date().toISOString() };
    this.#validator.assert(descriptor.payload, payload, `${descriptor.family}.${descriptor.event} event`, 'runtime.internal');
    const requestId = (payload as { requestId?: string }).requestId;
    const headers = contextHeaders(ctx ?? newContext(requestId ?? id));
    // the stream keeps one message per id within its duplicate window: a retried publish is stored once
    headers.set('Nats-Msg-Id', id);
    return { payload, subject: eventSubject(this.root, descriptor), data: encodeJson(payload), headers };
  }

  #streamAcks(): StreamAcks {
    return (this.#acks ??= new StreamAcks(this.nc, this.streamName, this.#inboxPrefix));
  }

  /**
   * Hears an event subject's events as they are published, without a consumer and without durability: for a caller
   * that waits on one outcome and asks the owning service once more if it may have missed it. A malformed event is
   * dropped. Resolves once the server has the subscription, so nothing published after that is missed (or after 5 s
   * while the connection is down).
   */
  async listen<D extends EventDescriptor>(descriptor: D, handler: (event: PayloadOf<D>) => void): Promise<{ stop(): void }> {
    const subject = eventSubject(this.root, descriptor);
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        let body: unknown;
        try {
          body = decodeJson(msg.data);
        } catch {
          return;
        }
        if (this.#validator.check(descriptor.payload, body)) handler(body as PayloadOf<D>);
      },
    });
    // a reconnecting connection sends the subscription once it is back; a caller that asks the owning service again
    // when its wait ends reads what it missed meanwhile
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.nc.flush().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    return {
      stop: () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  /**
   * Consumes events durably with explicit acks: a message is acknowledged only after `handler` resolves,
   * and redelivered (after a short delay) when it throws. One message at a time, in stream order.
   */
  async consume(
    durable: string,
    handler: (event: ConsumedEvent) => Promise<void>,
    options: { filterSubject?: string } = {},
  ): Promise<void> {
    await this.ensureStream();
    await this.#ensureConsumer(durable, options.filterSubject ?? allEventsSubject(this.root), 1000);
    const consumer = await this.js.consumers.get(this.streamName, durable);
    const messages = await consumer.consume({ max_messages: 256 });
    let current: Promise<void> = Promise.resolve();
    const loop = (async () => {
      for await (const m of messages) {
        const ctx = contextFrom(m.headers);
        current = (async () => {
          try {
            const payload = decodeJson(m.data);
            await handler({
              subject: m.subject,
              payload,
              ctx,
              deliveryCount: m.info.deliveryCount,
              streamSequence: m.info.streamSequence,
            });
            m.ack();
          } catch (err) {
            this.#logger.warn(
              { subject: m.subject, seq: m.seq, err: err instanceof Error ? err.message : String(err) },
              'event handler failed; it will be redelivered',
            );
            m.nak(1000);
          }
        })();
        await current;
      }
    })();
    this.#stops.push(async () => {
      await messages.close();
      await current;
      await loop.catch(() => undefined);
    });
  }

  /**
   * Consumes events durably in stream order, handing `handler` bounded batches of what has arrived (at most
   * `maxBatch`). A batch whose handler throws is retried in place with backoff, never skipped and never overtaken
   * by later messages (a nak would let them pass), and acknowledged only after the handler resolves: delivery is
   * at least once and in order, so the handler de-duplicates. Redelivery after a crash resumes at the first
   * unacknowledged message.
   *
   * With `gatherMs`, a batch is handed over once `maxBatch` messages have arrived or `gatherMs` after the first of them
   * did: under a light load, one handler call for several messages instead of one for each. On a stop, every message
   * delivered and not acknowledged (gathered, shown next, or in a batch being retried) is handed back to the stream at
   * once (a negative acknowledgement) rather than left for the acknowledgement wait.
   *
   * With `lookahead`, the handler is also shown the batch it will get next when messages beyond the current batch have
   * arrived (`upcoming`, empty otherwise), and that batch is then handed over exactly as shown: a handler may prepare
   * it while it handles the current one. Each message is still acknowledged on its own, once its batch's handler
   * resolved: several copies of a consumer share one durable, so acknowledging all up to a sequence could
   * acknowledge messages another copy has not made durable yet.
   *
   * A durable removed while it is read (by an operator), or whose reading fails, is opened again (made again when
   * missing) and read from the start of the stream, logged as an error: its events are handed over again, never
   * skipped, and nothing the old one delivered is acknowledged to the new one.
   */
  async consumeBatches(
    durable: string,
    handler: (events: ConsumedEvent[], working: () => void, upcoming: ConsumedEvent[]) => Promise<void>,
    options: { filterSubject?: string; maxBatch?: number; lookahead?: boolean; gatherMs?: number } = {},
  ): Promise<void> {
    await this.ensureStream();
    const maxBatch = options.maxBatch ?? 100;
    const gatherMs = options.gatherMs ?? 0;
    const filter = options.filterSubject ?? allEventsSubject(this.root);
    const stop = new AbortController();
    /** the durable's messages as last opened; `removed` once the server said the durable is gone */
    const open = async (): Promise<{ messages: ConsumerMessages; removed: () => boolean }> => {
      await this.#ensureConsumer(durable, filter, Math.max(1000, maxBatch * 4));
      const messages = await (await this.js.consumers.get(this.streamName, durable)).consume({ max_messages: Math.max(256, maxBatch * 2) });
      let removed = false;
      let streamGone = false;
      void (async () => {
        for await (const s of messages.status()) {
          // left alone, the client would wait for missed heartbeats and then for the durable to come back by itself
          if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found') {
            removed = true;
            await messages.close();
            return;
          }
          // its events are gone with it, and no copy of a service makes it again: said once, loudly
          if (s.type === 'stream_not_found' && !streamGone) {
            streamGone = true;
            this.#logger.error({ durable, stream: this.streamName }, 'the event stream was removed while it was read: nothing is consumed until it exists again');
          }
        }
      })().catch(() => undefined);
      return { messages, removed: () => removed };
    };
    let current = await open();
    const queue: JsMsg[] = [];
    let wake: (() => void) | undefined;
    /** bumped when the durable is opened again: what the old one delivered is not acknowledged to the new one */
    let generation = 0;
    const reader = (async () => {
      for (;;) {
        let failure: unknown;
        try {
          for await (const m of current.messages) {
            queue.push(m);
            wake?.();
          }
        } catch (err) {
          failure = err;
        }
        if (stop.signal.aborted || this.nc.isClosed() || (!current.removed() && failure === undefined)) return;
        // the new durable delivers from the start of the stream: what the old one delivered and no handler was given
        // yet is dropped, and nothing the old one delivered is acknowledged (an acknowledgement names the durable, not
        // which copy of it delivered the message, so it would count for the new one)
        queue.length = 0;
        generation += 1;
        this.#logger.error(
          { durable, ...(failure === undefined ? {} : { err: failure instanceof Error ? failure.message : String(failure) }) },
          failure === undefined
            ? 'the durable consumer was removed while it was read: made again, its events are read again from the start of the stream'
            : 'reading the durable consumer failed: opened again, its events are read again from the start of the stream',
        );
        // a durable removed again and again is read from the start at most once a second
        await sleep(1000, stop.signal);
        for (let attempt = 1; !stop.signal.aborted && !this.nc.isClosed(); attempt++) {
          try {
            current = await open();
            break;
          } catch (err) {
            this.#logger.warn({ durable, attempt, err: err instanceof Error ? err.message : String(err) }, 'opening the durable consumer again failed; retrying');
            await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), stop.signal);
          }
        }
        if (stop.signal.aborted || this.nc.isClosed()) {
          // stopped while it was being opened again: what was opened is closed here, since the stop closed the old one
          await current.messages.close().catch(() => undefined);
          return;
        }
      }
    })().finally(() => wake?.());
    const take = (): Batch => {
      const msgs = queue.splice(0, maxBatch);
      return { msgs, events: msgs.map(consumedEvent), generation };
    };
    /** Waits until `maxBatch` messages have arrived, `gatherMs` have passed or the consumer stops. */
    const gather = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          stop.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, gatherMs);
        wake = () => void (queue.length >= maxBatch && done());
        stop.signal.addEventListener('abort', done, { once: true });
      });
    /** the batch being handled, and the one shown next: delivered, not acknowledged yet */
    let handling: Batch | undefined;
    let next: Batch | undefined;
    const worker = (async () => {
      while (!stop.signal.aborted) {
        if (!next && queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        if (!next && gatherMs > 0 && queue.length < maxBatch) {
          await gather();
          if (stop.signal.aborted) return;
          // the durable was made again meanwhile and what it had delivered dropped: nothing to hand over
          if (queue.length === 0) continue;
        }
        const batch = next ?? take();
        handling = batch;
        next = options.lookahead && queue.length > 0 ? take() : undefined;
        const upcoming = next;
        // a handler that takes long (retrying a webhook) keeps the batch (and the one shown next) from being
        // redelivered meanwhile
        const working = () => [...batch.msgs, ...(upcoming?.msgs ?? [])].forEach((m) => m.working());
        for (let attempt = 1; ; attempt++) {
          try {
            await handler(batch.events, working, upcoming?.events ?? []);
            if (batch.generation === generation) for (const m of batch.msgs) m.ack();
            handling = undefined;
            break;
          } catch (err) {
            this.#logger.warn(
              { durable, first: batch.msgs[0]!.seq, size: batch.msgs.length, attempt, err: err instanceof Error ? err.message : String(err) },
              'event batch handler failed; retrying the same batch',
            );
            working();
            await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)), stop.signal);
            if (stop.signal.aborted) return;
          }
        }
      }
    })();
    this.#stops.push(async () => {
      stop.abort();
      wake?.();
      await current.messages.close();
      await worker.catch(() => undefined);
      await reader.catch(() => undefined);
      // what this copy was given and did not acknowledge (a batch gathering, shown next, or failing) goes back to the
      // stream now, for another copy or the next start, instead of after the acknowledgement wait
      const unhandled = [handling, next].flatMap((b) => (b && b.generation === generation ? b.msgs : [])).concat(queue);
      if (!this.nc.isClosed()) for (const m of unhandled) m.nak();
    });
  }

  async #ensureConsumer(durable: string, filter: string, maxAckPending: number): Promise<void> {
    let existing: Awaited<ReturnType<JetStreamManager['consumers']['info']>> | undefined;
    try {
      existing = await this.#jsm.consumers.info(this.streamName, durable);
    } catch {
      existing = undefined;
    }
    if (existing) {
      // a durable of this name made by someone else (reading only some subjects, acknowledging all up to a message)
      // would be read as if it were ours: refused, loudly, rather than recording less than the stream holds
      const { filter_subject: has, ack_policy: acks } = existing.config;
      if ((has ?? '') !== filter || acks !== AckPolicy.Explicit) {
        throw new Error(`the durable consumer ${durable} exists with filter "${has ?? ''}" and ack policy ${acks}, not "${filter}" and explicit: remove it, and it is made again`);
      }
      return;
    }
    await this.#jsm.consumers.add(this.streamName, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filter,
      ack_wait: 30 * 1_000_000_000,
      max_ack_pending: maxAckPending,
    });
  }

  /** Stops serving and consuming, waits for in-flight handlers, then drains the connection. */
  async close(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) {
      await stop().catch(() => undefined);
    }
    await Promise.allSettled([...this.#inflight]);
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
    // what the drain let in was answered; anything still waiting never will be
    this.#acks?.close();
  }
}

/** Messages taken off the queue together, their events (decoded once), and the opening of the durable they came from. */
interface Batch {
  msgs: JsMsg[];
  events: ConsumedEvent[];
  generation: number;
}

function consumedEvent(m: JsMsg): ConsumedEvent {
  let ctx: CallContext | undefined;
  return {
    subject: m.subject,
    payload: decodeOrUndefined(m.data),
    // read when asked: a handler that writes events down (audit) never needs it, and parsing headers is not free
    get ctx() {
      return (ctx ??= contextFrom(m.headers));
    },
    deliveryCount: m.info.deliveryCount,
    streamSequence: m.info.streamSequence,
  };
}

function decodeOrUndefined(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    // the listener goes with the sleep: a long outage's retries do not pile listeners up on the signal
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The inbox prefix of a service's connection when it logs in as its own user: its replies come only there. */
function inboxPrefixOf(service: string): string {
  return `_INBOX_${service}`;
}

export function contextHeaders(ctx: CallContext): MsgHdrs {
  const h = natsHeaders();
  h.set(Headers.requestId, ctx.requestId);
  h.set(Headers.traceparent, ctx.traceparent);
  if (ctx.tracestate) h.set(Headers.tracestate, ctx.tracestate);
  return h;
}

export function contextFrom(h: MsgHdrs | undefined): CallContext {
  const requestId = h?.get(Headers.requestId) || randomUUID();
  const tp = h?.get(Headers.traceparent) ?? '';
  if (!isTraceparent(tp)) return newContext(requestId);
  const ts = h?.get(Headers.tracestate);
  return ts ? { requestId, traceparent: tp, tracestate: ts } : { requestId, traceparent: tp };
}
