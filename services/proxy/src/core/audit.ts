import { proxyV1, type policyV1, type Principal } from '@airlock/contracts';
import type { CallContext, EventPublisher } from '@airlock/runtime';
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
 * Everything the audit log learns about one session, in one place: its start, each statement's start, result or
 * failure, and its end. An allowed metadata read under `audit.metadataReads: summary` is counted here instead of
 * recorded, and the count goes with the session's end.
 */
export class SessionAudit {
  readonly #events: EventPublisher;
  readonly #sessionId: string;
  readonly #connection: string;
  readonly #summary: boolean;
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
    this.#events.emit(proxyV1.sessionOpened, { sessionId: this.#sessionId, principal, connection: this.#connection, frontend, ...(client ? { client } : {}), proxy });
  }

  /** A statement arrived, whatever becomes of it. */
  onStatement(): void {
    this.#statements += 1;
  }

  /** The statement starts upstream under `leaseId`; `reused` names the earlier statement whose decision it runs under. */
  onQuery(requestId: string, leaseId: string, decision: policyV1.Decision, ctx: CallContext, reused?: proxyV1.ReusedDecision): void {
    if (this.#summarised(decision)) this.#metadataReads += 1;
    else this.#events.emit(proxyV1.queryStarted, { requestId, sessionId: this.#sessionId, connection: this.#connection, leaseId, ...(reused ? { reused } : {}) }, ctx);
  }

  /** The statement completed; `decision` is absent for transaction control kept by the proxy. */
  onResult(requestId: string, record: ResultRecord, decision: policyV1.Decision | undefined, ctx: CallContext): void {
    if (decision && this.#summarised(decision)) return;
    this.#events.emit(proxyV1.queryCompleted, { requestId, sessionId: this.#sessionId, connection: this.#connection, ...record }, ctx);
  }

  /** The statement was refused or failed: `e` is what the client is told, never upstream text of masked data. */
  onQueryFailed(requestId: string, leaseId: string | null, e: ClientError, durationMs: number, sent: Sent | undefined, ctx: CallContext): void {
    this.#events.emit(
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
  }

  onSessionEnd(reason: string): void {
    this.#events.emit(proxyV1.sessionClosed, {
      sessionId: this.#sessionId,
      reason,
      statements: this.#statements,
      ...(this.#summary ? { metadataReads: this.#metadataReads } : {}),
    });
  }

  /** An allowed metadata read that `audit.metadataReads: summary` counts on the session instead of recording. */
  #summarised(decision: policyV1.Decision): boolean {
    return this.#summary && decision.outcome === 'allow' && decision.rule === 'builtin:metadata';
  }
}
