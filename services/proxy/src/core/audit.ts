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

  /** The statement starts upstream under `leaseId`; `reused` names the earlier statement whose decision it runs under. */
  onQuery(requestId: string, leaseId: string, decision: policyV1.Decision, ctx: CallContext, reused?: proxyV1.ReusedDecision): void {
    if (this.#summarised(decision)) this.#metadataReads += 1;
    else this.#started.set(requestId, this.#events.emit(proxyV1.queryStarted, { requestId, sessionId: this.#sessionId, connection: this.#connection, leaseId, ...(reused ? { reused } : {}) }, ctx));
  }

  /**
   * The statement completed; `decision` is absent for transaction control kept by the proxy. Resolves once its record
   * is durable (at once for a metadata read counted on the session).
   */
  onResult(requestId: string, record: ResultRecord, decision: policyV1.Decision | undefined, ctx: CallContext): Promise<void> {
    if (decision && this.#summarised(decision)) return Promise.resolve();
    return this.#durable(requestId, this.#events.emit(proxyV1.queryCompleted, { requestId, sessionId: this.#sessionId, connection: this.#connection, ...record }, ctx));
  }

  /** The statement was refused or failed: `e` is what the client is told, never upstream text of masked data. */
  onQueryFailed(requestId: string, leaseId: string | null, e: ClientError, durationMs: number, sent: Sent | undefined, ctx: CallContext): Promise<void> {
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
      },
      ctx,
    );
    return this.#durable(requestId, failed);
  }

  onSessionEnd(reason: string): void {
    this.#events.emit(proxyV1.sessionClosed, {
      sessionId: this.#sessionId,
      reason,
      statements: this.#statements,
      ...(this.#summary ? { metadataReads: this.#metadataReads } : {}),
    });
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
