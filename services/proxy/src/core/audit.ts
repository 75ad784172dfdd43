import { proxyV1, type policyV1, type Principal } from '@airlock/contracts';
import type { CallContext, Emitted, EventPublisher } from '@airlock/runtime';
import type { ClientError } from './errors.js';

/** What a statement sent to its client before it ended: rows, bytes and masked cells. */
export interface Sent {
  rows: number;
  bytes: number;
  maskedCells: number;
}

/** A statement's result as the audit log keeps it. */
export interface ResultRecord extends Sent {
  leaseId: string | null;
  command: string;
  detected: Record<string, number>;
  durationMs: number;
  /** the masked rows exactly as the client got them, within the connection's recording limits */
  result?: { columns: string[]; rows: Array<Array<string | null>>; truncated: boolean };
}

/**
 * How long a statement's end waits for its record to be stored before the client is told it cannot be answered: long
 * enough for a NATS reconnect to a healthy cluster, short enough for a client's own timeout.
 */
const durableWithinMs = 5000;

/**
 * How long a read's start record is held for its end. A statement that only reads and ends within this time has one
 * record, its end (which then carries what the start would have: its lease and reused decision), instead of two: half
 * the events for the common short read. A read still running after it, or sending rows before its end, has its start
 * written then, so a long or streaming read is in the log while it runs. A statement that may change anything (a
 * write, DDL, a setting, transaction control) has its start written at once, before its effect.
 */
const readStartHeldMs = 50;

/** Statement kinds that change nothing in the database: their start may wait for their end. */
const readKinds: ReadonlySet<string> = new Set(['select', 'show', 'explain']);

/** Whether policy found nothing in the statement but reads (a data-modifying WITH makes it a write). */
export function onlyReads(decision: policyV1.Decision): boolean {
  const kinds = decision.analysis?.kinds ?? [];
  return kinds.length > 0 && kinds.every((k) => readKinds.has(k));
}

/** A read's start, held until it ends, sends rows, or runs longer than `readStartHeldMs`. */
interface HeldStart {
  leaseId: string;
  reused: proxyV1.ReusedDecision | undefined;
  ctx: CallContext;
  timer: NodeJS.Timeout;
}

/**
 * Everything the audit log learns about one session, in one place: its start, each statement's start, result or
 * failure, and its end. An allowed metadata read under `audit.metadataReads: summary` is counted here instead of
 * recorded, and the count goes with the session's end.
 *
 * A statement's result and failure resolve once the stream stored its record, with the session's start and the
 * statement's own start before it: the client is answered only after that (they reject after `durableWithinMs`).
 */
export class SessionAudit {
  readonly #events: EventPublisher;
  readonly #sessionId: string;
  readonly #connection: string;
  readonly #summary: boolean;
  #opened: Emitted | undefined;
  /** each running statement's start event, until its record says how it ended */
  readonly #started = new Map<string, Emitted>();
  /** each running read whose start record is held for its end */
  readonly #held = new Map<string, HeldStart>();
  #statements = 0;
  #metadataReads = 0;

  constructor(events: EventPublisher, sessionId: string, connection: string, metadataReads: 'summary' | 'each' | undefined) {
    this.#events = events;
    this.#sessionId = sessionId;
    this.#connection = connection;
    this.#summary = metadataReads === 'summary';
  }

  onSessionStart(start: { principal: Principal; frontend: proxyV1.Frontend; client: string | undefined; proxy: string }): void {
    const { principal, frontend, client, proxy } = start;
    this.#opened = this.#events.emit(proxyV1.sessionOpened, { sessionId: this.#sessionId, principal, connection: this.#connection, frontend, ...(client ? { client } : {}), proxy });
  }

  /** A statement arrived, whatever becomes of it. */
  onStatement(): void {
    this.#statements += 1;
  }

  /**
   * The statement starts upstream under `leaseId`; `reused` names the earlier statement whose decision it runs under.
   * A read's start record is held for its end (`readStartHeldMs`); any other statement's is written now.
   */
  onQuery(requestId: string, leaseId: string, decision: policyV1.Decision, ctx: CallContext, reused?: proxyV1.ReusedDecision): void {
    if (this.#summarised(decision)) {
      this.#metadataReads += 1;
      return;
    }
    if (onlyReads(decision)) {
      const timer = setTimeout(() => this.#writeStart(requestId), readStartHeldMs);
      timer.unref();
      this.#held.set(requestId, { leaseId, reused, ctx, timer });
      return;
    }
    this.#started.set(requestId, this.#events.emit(proxyV1.queryStarted, { requestId, sessionId: this.#sessionId, connection: this.#connection, leaseId, ...(reused ? { reused } : {}) }, ctx));
  }

  /**
   * Rows of the statement are about to reach its client before its end: its start record is written first, and
   * resolves once stored (rejects after the bound), so that no row leaves before the log holds the statement.
   */
  onRowsSent(requestId: string): Promise<void> {
    this.#writeStart(requestId);
    const started = this.#started.get(requestId);
    return started ? this.#events.stored([started], durableWithinMs) : Promise.resolve();
  }

  /**
   * The statement completed; `decision` is absent for transaction control kept by the proxy. Resolves once its record
   * is durable (at once for a metadata read counted on the session).
   */
  onResult(requestId: string, record: ResultRecord, decision: policyV1.Decision | undefined, ctx: CallContext): Promise<void> {
    if (decision && this.#summarised(decision)) return Promise.resolve();
    const reused = this.#endHeld(requestId);
    return this.#durable(requestId, this.#events.emit(proxyV1.queryCompleted, { requestId, sessionId: this.#sessionId, connection: this.#connection, ...record, ...(reused ? { reused } : {}) }, ctx));
  }

  /** The statement was refused or failed: `e` is what the client is told, never upstream text of masked data. */
  onQueryFailed(requestId: string, leaseId: string | null, e: ClientError, durationMs: number, sent: Sent | undefined, ctx: CallContext): Promise<void> {
    const reused = this.#endHeld(requestId);
    const failed = this.#events.emit(
      proxyV1.queryFailed,
      {
        requestId,
        sessionId: this.#sessionId,
        connection: this.#connection,
        leaseId,
        code: e.code,
        sqlState: e.sqlState,
        message: e.message,
        durationMs,
        ...(sent ?? {}),
        ...(reused ? { reused } : {}),
      },
      ctx,
    );
    return this.#durable(requestId, failed);
  }

  onSessionEnd(reason: string): void {
    // statements still running when their session ends are recorded as started, whatever becomes of them
    for (const requestId of [...this.#held.keys()]) this.#writeStart(requestId);
    this.#events.emit(proxyV1.sessionClosed, {
      sessionId: this.#sessionId,
      reason,
      statements: this.#statements,
      ...(this.#summary ? { metadataReads: this.#metadataReads } : {}),
    });
  }

  /** Writes a held start record now (once). */
  #writeStart(requestId: string): void {
    const held = this.#held.get(requestId);
    if (!held) return;
    clearTimeout(held.timer);
    this.#held.delete(requestId);
    const { leaseId, reused, ctx } = held;
    this.#started.set(requestId, this.#events.emit(proxyV1.queryStarted, { requestId, sessionId: this.#sessionId, connection: this.#connection, leaseId, ...(reused ? { reused } : {}) }, ctx));
  }

  /** The statement ended with its start still held: no start record is written; its end carries the reused decision. */
  #endHeld(requestId: string): proxyV1.ReusedDecision | undefined {
    const held = this.#held.get(requestId);
    if (!held) return undefined;
    clearTimeout(held.timer);
    this.#held.delete(requestId);
    return held.reused;
  }

  /** Resolves once the statement's end, its start and the session's start are stored (rejects after the bound). */
  #durable(requestId: string, end: Emitted): Promise<void> {
    const records = [end];
    const started = this.#started.get(requestId);
    this.#started.delete(requestId);
    if (started) records.push(started);
    if (this.#opened) records.push(this.#opened);
    return this.#events.stored(records, durableWithinMs);
  }

  /** An allowed metadata read that `audit.metadataReads: summary` counts on the session instead of recording. */
  #summarised(decision: policyV1.Decision): boolean {
    return this.#summary && decision.outcome === 'allow' && decision.rule === 'builtin:metadata';
  }
}
