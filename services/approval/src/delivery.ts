import type pg from 'pg';
import { approvalV1, type EventDescriptor } from '@airlock/contracts';
import { isTraceparent, newContext, type Bus, type Logger } from '@airlock/runtime';
import { outbox, type OutboxRow } from './store/outbox.js';

export interface DeliverySettings {
  /** attempts per webhook message before it is recorded as failed */
  attempts: number;
  /** the first retry delay; each further one doubles, up to `maxBackoffMs` */
  backoffMs: number;
  maxBackoffMs: number;
  /** how long one webhook call may take */
  timeoutMs: number;
}

const events: Record<string, EventDescriptor> = {
  requested: approvalV1.approvalRequested,
  decided: approvalV1.approvalDecided,
  'grant-used': approvalV1.approvalGrantUsed,
};

/** Exponential backoff with up to 20 % jitter, so many failing messages do not retry in lock step. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 + 0.2 * random()));
}

/** The scheme, host and port of a webhook: what logs may show (a webhook path often holds a secret). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Delivers the outbox: bus events in the order they were written (retried without limit: the audit log must get
 * every transition), webhook messages each on its own with bounded retries. Several copies of the service may
 * run it at once; a claim keeps each row with one of them.
 */
export class Delivery {
  readonly #pool: pg.Pool;
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #settings: DeliverySettings;
  readonly #onAttempt: (channel: 'bus' | 'webhook', result: 'delivered' | 'retry' | 'failed') => void;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(deps: {
    pool: pg.Pool;
    bus: Bus;
    logger: Logger;
    settings: DeliverySettings;
    /** told of every attempt, for metrics */
    onAttempt?: (channel: 'bus' | 'webhook', result: 'delivered' | 'retry' | 'failed') => void;
  }) {
    this.#onAttempt = deps.onAttempt ?? (() => undefined);
    this.#pool = deps.pool;
    this.#bus = deps.bus;
    this.#logger = deps.logger;
    this.#settings = deps.settings;
  }

  /** Runs a delivery pass now, or right after the one in progress. */
  kick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pass();
        } while (this.#again);
      } catch (err) {
        this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'approval outbox pass failed; it runs again shortly');
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  /** Waits for the pass in progress, if any. */
  async idle(): Promise<void> {
    await this.#running;
  }

  async #pass(): Promise<void> {
    const leaseSeconds = Math.ceil(this.#settings.timeoutMs / 1000) + 30;
    for (;;) {
      const rows = await outbox.claim(this.#pool, 50, leaseSeconds);
      if (rows.length === 0) return;
      const bus = rows.filter((r) => r.channel === 'bus');
      const hooks = rows.filter((r) => r.channel === 'webhook');
      await Promise.all([this.#publishInOrder(bus), ...hooks.map((r) => this.#post(r))]);
      if (rows.length < 50) return;
    }
  }

  async #publishInOrder(rows: OutboxRow[]): Promise<void> {
    for (const [i, row] of rows.entries()) {
      try {
        const descriptor = events[row.topic];
        if (!descriptor) throw new Error(`unknown event topic ${row.topic}`);
        const requestId = row.request_id ?? String(row.payload['id']);
        const ctx = row.traceparent && isTraceparent(row.traceparent) ? { requestId, traceparent: row.traceparent } : newContext(requestId);
        // the payload keeps its id, so JetStream de-duplicates a publish repeated after a crash
        await this.#bus.publish(descriptor, row.payload as never, ctx);
        await outbox.delivered(this.#pool, row, null);
        this.#onAttempt('bus', 'delivered');
      } catch (err) {
        this.#onAttempt('bus', 'retry');
        const message = err instanceof Error ? err.message : String(err);
        this.#logger.warn({ event: row.topic, attempts: row.attempts, err: message }, 'approval event not published yet; retrying');
        // later events wait for this one, so the audit log sees transitions in order
        for (const later of rows.slice(i)) {
          await outbox.failedAttempt(this.#pool, later, null, message, backoffDelay(later.attempts, this.#settings.backoffMs, 30_000), false);
        }
        return;
      }
    }
  }

  async #post(row: OutboxRow): Promise<void> {
    const url = row.target ?? '';
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'airlock-approval' },
        body: JSON.stringify(row.payload),
        signal: AbortSignal.timeout(this.#settings.timeoutMs),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${(err as { cause?: { code?: string } }).cause?.code ?? err.message}` : String(err);
    }
    await outbox.recordAttempt(this.#pool, row, status, error);
    if (error === null) {
      await outbox.delivered(this.#pool, row, status);
      this.#onAttempt('webhook', 'delivered');
      return;
    }
    const final = row.attempts >= this.#settings.attempts;
    this.#onAttempt('webhook', final ? 'failed' : 'retry');
    await outbox.failedAttempt(this.#pool, row, status, error, backoffDelay(row.attempts, this.#settings.backoffMs, this.#settings.maxBackoffMs), final);
    const fields = { webhook: origin(url), format: row.topic, attempts: row.attempts, error };
    if (final) this.#logger.error(fields, 'approval webhook gave up after its last attempt; the failure is recorded in approval_outbox');
    else this.#logger.warn(fields, 'approval webhook failed; it will be retried');
  }
}
