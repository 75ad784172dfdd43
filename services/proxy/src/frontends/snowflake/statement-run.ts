import { randomUUID } from 'node:crypto';
import type { ActiveStatement, OpenHooks } from '../../core/session.js';
import { failures, toSnowflakeFailure, type SnowflakeFailure } from './errors.js';
import type { QueryStatus } from './responses.js';
import type { Batch, ResultSource, StreamEnd } from './result-stream.js';

/** The part of a proxy `Session` this front door uses. */
export interface StatementSession {
  readonly id: string;
  open(sql: string, params: Array<string | null>, hooks?: OpenHooks): Promise<ActiveStatement>;
  cancel(): Promise<void>;
  close(reason: string): Promise<void>;
}

/**
 * One statement at a time per session: a proxy Session keeps one running statement and one transaction, so a
 * second statement sent while the first still streams waits here (it is answered in-progress if it waits long).
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    let released = false;
    return previous.then(() => () => {
      if (released) return;
      released = true;
      release();
    });
  }
}

export type RunState = 'running' | 'held' | 'ready' | 'streaming' | 'succeeded' | 'failed' | 'cancelled';

type Outcome = { ok: true; active: ActiveStatement; first: Batch } | { ok: false; failure: SnowflakeFailure };

export interface RunOptions {
  session: StatementSession;
  lock: Mutex;
  sql: string;
  params: Array<string | null>;
  batchRows: number;
  /** how long a statement held for approval waits for the decision before it fails as pending */
  holdMs: number;
  /** the driver's requestId of the query-request, for abort-request */
  clientRequestId: string | null;
  /** called once when the statement reaches a final state (its session may be closed then) */
  onEnd?: (run: StatementRun) => void;
}

/**
 * One statement sent by a client, from submission to the last row. It runs in the background so that a request
 * can be answered "in progress" while it waits (for the session, for an approver, for a slow upstream) and the
 * result fetched later by query id. Its first batch is read before the answer starts, so that failures found
 * there are answered in full as errors.
 */
export class StatementRun {
  readonly queryId: string = randomUUID();
  readonly createdAt: number = Date.now();
  readonly clientRequestId: string | null;
  readonly sessionId: string;
  endedAt: number | null = null;
  #state: RunState = 'running';
  #hold: { approvalId: string; message: string } | undefined;
  #outcome: Outcome | undefined;
  #failure: SnowflakeFailure | null = null;
  #readyAt = 0;
  #release: (() => void) | undefined;
  /** the statement holds its session (so a cancel may reach the upstream) */
  #opened = false;
  readonly #options: RunOptions;
  readonly #waiters = new Set<() => void>();
  readonly settled: Promise<void>;

  constructor(options: RunOptions) {
    this.#options = options;
    this.clientRequestId = options.clientRequestId;
    this.sessionId = options.session.id;
    this.settled = this.#run();
  }

  get state(): RunState {
    return this.#state;
  }

  get hold(): { approvalId: string; message: string } | undefined {
    return this.#hold;
  }

  get failure(): SnowflakeFailure | null {
    return this.#failure;
  }

  /** true until the statement has an outcome (rows to fetch or an error) */
  get pending(): boolean {
    return this.#state === 'running' || this.#state === 'held';
  }

  get status(): QueryStatus {
    switch (this.#state) {
      case 'running':
        return 'RUNNING';
      case 'held':
        return 'QUEUED';
      case 'failed':
        return 'FAILED_WITH_ERROR';
      case 'cancelled':
        return 'ABORTED';
      default:
        return 'SUCCESS';
    }
  }

  async #run(): Promise<void> {
    const { session, lock, sql, params, batchRows, holdMs } = this.#options;
    let active: ActiveStatement | undefined;
    try {
      this.#release = await lock.acquire();
      if (this.#cancelled()) return this.#end();
      this.#opened = true;
      active = await session.open(sql, params, {
        holdMs,
        onHold: (approvalId, message) => {
          if (this.#state !== 'running') return;
          this.#state = 'held';
          this.#hold = { approvalId, message };
          this.#wake();
        },
      });
      const first = await active.read(batchRows);
      if (this.#cancelled()) {
        await active.close().catch(() => undefined);
        return this.#end();
      }
      this.#outcome = { ok: true, active, first };
      this.#state = 'ready';
      this.#readyAt = Date.now();
    } catch (err) {
      if (this.#cancelled()) return this.#end();
      this.#failure = toSnowflakeFailure(err);
      this.#outcome = { ok: false, failure: this.#failure };
      this.#state = 'failed';
      this.#end();
    } finally {
      this.#wake();
    }
  }

  /** a cancel may land while the statement is awaited: read the state afresh */
  #cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #end(): void {
    this.#release?.();
    if (this.endedAt !== null) return;
    this.endedAt = Date.now();
    this.#options.onEnd?.(this);
  }

  /**
   * Waits until the statement has an outcome, at most `ms`; with `untilHeld`, also returns as soon as it is held for
   * approval, so that the client learns at once that it waits for a person.
   */
  async wait(ms: number, untilHeld: boolean): Promise<void> {
    if (!this.pending || (untilHeld && this.#state === 'held')) return;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      waiter = () => {
        if (!this.pending || untilHeld) resolve();
      };
      this.#waiters.add(waiter);
    });
    clearTimeout(timer);
    if (waiter) this.#waiters.delete(waiter);
  }

  /**
   * The result, once: `source` to stream (the caller must run `end` when the stream ends), or the failure. A
   * second fetch of a streamed result is refused: Airlock never keeps a result to serve it again.
   */
  take(): { source: ResultSource; end: (e: StreamEnd) => Promise<void> } | { failure: SnowflakeFailure } | null {
    if (this.#cancelled()) return { failure: failures.canceled() };
    const outcome = this.#outcome;
    if (!outcome) return null;
    if (!outcome.ok) return { failure: outcome.failure };
    if (this.#state !== 'ready') return { failure: failures.resultDelivered(this.queryId) };
    this.#state = 'streaming';
    const active = outcome.active;
    return {
      source: { columns: active.columns, first: outcome.first, read: (max) => active.read(max) },
      end: async (e) => {
        if (e.kind === 'succeeded') this.#state = 'succeeded';
        else if (e.kind === 'failed') {
          this.#state = 'failed';
          this.#failure = e.failure;
        } else {
          // the client went away mid-stream
          this.#state = 'cancelled';
          await active.close().catch(() => undefined);
        }
        this.#end();
      },
    };
  }

  /** Cancels the statement: upstream if it runs, locally if it waits or its result was not fetched yet. */
  async cancel(): Promise<boolean> {
    const state = this.#state;
    if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return false;
    this.#state = 'cancelled';
    this.#failure = failures.canceled();
    this.#wake();
    if (state === 'ready' && this.#outcome?.ok) {
      await this.#outcome.active.close().catch(() => undefined);
      this.#end();
    } else if (((state === 'running' || state === 'held') && this.#opened) || state === 'streaming') {
      await this.#options.session.cancel().catch(() => undefined);
    }
    return true;
  }

  /** A result nobody fetched within `retentionMs` is closed, so that it does not hold its session forever. */
  async expireIfStale(now: number, retentionMs: number): Promise<boolean> {
    if (this.#state !== 'ready' || now - this.#readyAt < retentionMs) return false;
    await this.cancel();
    return true;
  }
}
