import type { MaskingPlan, policyV1 } from '@airlock/contracts';
import { createMasker, type Masker } from '@airlock/masking';
import { AirlockError, type ActiveSpan, type CallContext, type Counter, type Histogram, type Tracing } from '@airlock/runtime';
import type { ColumnInfo, UpstreamPortal } from '../engines/engine.js';
import { dataRowValueBytes, decodeDataRow, nextMessage } from '../engines/wire-rows.js';
import type { SessionAudit, Sent } from './audit.js';
import { classify, forStatement, type ClientError } from './errors.js';
import { WireMasker } from './wire-masker.js';

/** What the proxy counts about statements. */
export interface ProxyMetrics {
  /** from policy call to last row (and the per-statement lease's revocation), by connection and outcome */
  statementSeconds: Histogram<'connection' | 'outcome'>;
  maskedCells: Counter<'connection'>;
}

/** One statement in flight: rows come out masked and counted; completion and failure are recorded once. */
export interface ActiveStatement {
  readonly requestId: string;
  readonly columns: ColumnInfo[] | null;
  read(max: number): Promise<{ rows: Array<Array<string | null>>; done: boolean; tag: string | undefined }>;
  /**
   * The same rows, masked the same way, as PostgreSQL DataRow messages in text format (`count` of them in `parts`):
   * present when the upstream is PostgreSQL. A statement is read with one of the two, not both.
   */
  readWire?(max: number): Promise<{ parts: Buffer[]; count: number; done: boolean; tag: string | undefined }>;
  /** the client stopped early (closed the portal, disconnected) */
  close(): Promise<void>;
  /** records a failure seen by the front door while sending */
  fail(err: unknown): ClientError;
}

/** How a streaming statement's end reaches the session. */
export interface StatementEnds {
  /** it no longer runs upstream: `completed` with the server's tag, `failed`, or `abandoned` by its front door */
  ended(how: 'completed' | 'failed' | 'abandoned', tag?: string): void;
  /**
   * After its record: what the statement alone held goes (its per-statement lease). On completion the client is
   * answered without waiting for it; the session awaits it before its next statement or its close.
   */
  release(): Promise<void>;
}

export interface ResultPipeDeps {
  tracing: Tracing;
  metrics: ProxyMetrics | undefined;
  hashKey: string;
  connection: string;
  /** how much of each result the audit log keeps (`connections.<name>.recording`) */
  recording: { rows?: number; bytes?: number } | undefined;
  audit: SessionAudit;
}

/** A statement's identity along the pipe: its request, trace context, start time and lease. */
export interface Run {
  requestId: string;
  ctx: CallContext;
  started: number;
  leaseId: string | null;
}

/**
 * Where results leave the proxy: every row masked by the decision's plan, counted against its limit, and kept for
 * the recording; each statement recorded once, when it completes or fails, and its root span ended and timed.
 *
 * A statement's end reaches its front door only once its record is durable (stored by the event stream): the last
 * batch of a result, and a failure, wait for it. A completion whose record is not stored in time is not reported:
 * the front door gets a `runtime.unavailable` error instead (`completionRecorded`), in the client's protocol. Rows already sent stay sent, and their record
 * keeps being retried in the background until the stream stores it.
 */
export class ResultPipe {
  readonly #deps: ResultPipeDeps;
  /** each open statement's root span, by request id, until it settles */
  readonly #spans = new Map<string, ActiveSpan>();

  constructor(deps: ResultPipeDeps) {
    this.#deps = deps;
  }

  track(requestId: string, span: ActiveSpan): void {
    this.#spans.set(requestId, span);
  }

  /**
   * Records a refused or failed statement once and waits until its record is durable; upstream text of a statement
   * that read masked data never leaves. The failure is what the client is told even when its record could not be
   * stored in time (it keeps being retried): either way nothing is reported complete. A statement that failed because
   * the bus did not answer is told at once: its record cannot be stored before the bus is back either.
   */
  async failed(run: Run, err: unknown, decision: policyV1.Decision | undefined, sent?: Sent): Promise<ClientError> {
    const { e, recorded } = this.#recordFailure(run, err, decision, sent);
    const settled = recorded.catch(() => undefined);
    if (e.code !== 'runtime.timeout' && e.code !== 'runtime.unavailable') await settled;
    this.#settle(run, e);
    return e;
  }

  #recordFailure(run: Run, err: unknown, decision: policyV1.Decision | undefined, sent?: Sent): { e: ClientError; recorded: Promise<void> } {
    const e = forStatement(classify(err, decision?.limits), decision);
    return { e, recorded: this.#deps.audit.onQueryFailed(run.requestId, run.leaseId, e, performance.now() - run.started, sent, run.ctx) };
  }

  /**
   * A statement without rows whose work is `done` (transaction control kept by the proxy, or run in its transaction);
   * `decision` is its own, which says how an upstream failure's text reaches the client.
   */
  deferred(run: Run, done: Promise<void>, tag: string, decision?: policyV1.Decision): ActiveStatement {
    // a failure is recorded when the front door reads it; until then it must not count as unhandled
    done.catch(() => undefined);
    return {
      requestId: run.requestId,
      columns: null,
      read: async () => {
        try {
          await done;
        } catch (err) {
          // a COMMIT, ROLLBACK or savepoint the server refused is recorded as failed, like any statement
          const e = await this.failed(run, err, decision);
          throw new AirlockError(e.code, e.message, { sqlState: e.sqlState, ...(e.hint ? { hint: e.hint } : {}), ...(e.snowflakeCode ? { snowflakeCode: e.snowflakeCode } : {}), requestId: run.requestId });
        }
        const record = { leaseId: run.leaseId, command: tag, rows: 0, bytes: 0, maskedCells: 0, detected: {}, durationMs: performance.now() - run.started };
        try {
          await completionRecorded(this.#deps.audit.onResult(run.requestId, record, undefined, run.ctx), run.requestId);
        } finally {
          this.#settle(run);
        }
        return { rows: [], done: true, tag };
      },
      close: async () => undefined,
      fail: (err) => classify(err),
    };
  }

  /** Streams an upstream portal's rows to the front door, masked, limited, counted and recorded. */
  stream(run: Run, portal: UpstreamPortal, decision: policyV1.Decision, ends: StatementEnds): ActiveStatement {
    const { requestId, ctx } = run;
    const columns = portal.columns;
    const masker = columns ? this.#masker(decision.masking, columns) : undefined;
    const maxRows = decision.limits.maxRows;
    const keepRows = this.#deps.recording?.rows ?? 100;
    const keepBytes = this.#deps.recording?.bytes ?? 64 * 1024;
    const kept: Array<Array<string | null>> = [];
    let keptBytes = 0;
    let truncated = false;
    let rowCount = 0;
    let bytes = 0;
    let finished = false;
    // rows streaming through the masking plan, from the first batch to the last
    let mask: ActiveSpan | undefined;
    /** the recording's share of masked DataRow messages: only rows it may still keep are decoded */
    const recordWire = (parts: Buffer[], count: number) => {
      if (kept.length >= keepRows) {
        if (count > 0) truncated = true;
        return;
      }
      for (const b of parts) {
        for (let o = 0; o < b.length; o = nextMessage(b, o)) {
          if (kept.length >= keepRows) {
            truncated = true;
            return;
          }
          record(dataRowValueBytes(b, o), () => decodeDataRow(b, o));
        }
      }
    };
    const sent = (): Sent => ({ rows: rowCount, bytes, maskedCells: masker?.stats.maskedCells ?? 0 });
    const counted = () => {
      mask?.set({ 'airlock.rows': rowCount, 'airlock.masked_cells': masker?.stats.maskedCells ?? 0 });
      if (masker) this.#deps.metrics?.maskedCells.inc({ connection: this.#deps.connection }, masker.stats.maskedCells);
    };
    const finish = async (tag: string | undefined) => {
      if (finished) return;
      finished = true;
      ends.ended('completed', tag);
      const stored = this.#deps.audit.onResult(
        requestId,
        {
          leaseId: run.leaseId,
          command: tag ?? 'SELECT',
          ...sent(),
          detected: masker ? { ...masker.stats.detected } : {},
          durationMs: performance.now() - run.started,
          ...(columns ? { result: { columns: columns.map((c) => c.name), rows: kept, truncated } } : {}),
        },
        decision,
        ctx,
      );
      counted();
      mask?.end();
      // the rows and their record are out: the client's CommandComplete does not wait for the lease's revocation,
      // which the session awaits before its next statement or close; the statement's span and time include it
      void ends.release().then(
        () => this.#settle(run),
        () => this.#settle(run),
      );
      await completionRecorded(stored, requestId);
    };
    const fail = async (err: unknown): Promise<never> => {
      finished = true;
      ends.ended('failed');
      counted();
      mask?.end(err);
      await ends.release();
      const e = await this.failed(run, err, decision, sent());
      throw new AirlockError(e.code, e.message, { sqlState: e.sqlState, ...(e.hint ? { hint: e.hint } : {}), ...(e.snowflakeCode ? { snowflakeCode: e.snowflakeCode } : {}), requestId });
    };
    /**
     * Rows are about to reach the client before the statement's end: the statement's start is stored first, or none
     * of them leaves and the statement fails as one whose record cannot be stored.
     */
    const startRecorded = async (): Promise<void> => {
      try {
        await this.#deps.audit.onRowsSent(requestId);
      } catch {
        await portal.close().catch(() => undefined);
        await fail(
          new AirlockError(
            'runtime.unavailable',
            'Airlock could not store the audit record of this statement in time (its event stream is unreachable), so it sends none of its rows; ' +
              'the statement may have taken effect in the database: check before you send it again',
          ),
        );
      }
    };
    /** the portal's next batch, within the row limit: the limit's error when the result passes it */
    const next = async <B extends { done: boolean; tag: string | undefined }>(max: number, read: (max: number) => Promise<B>, count: (b: B) => number): Promise<B> => {
      let batch;
      mask ??= columns ? this.#deps.tracing.start('mask', ctx) : undefined;
      try {
        batch = await read(Math.min(max, maxRows - rowCount + 1));
      } catch (err) {
        return fail(err);
      }
      if (rowCount + count(batch) > maxRows) {
        await portal.close().catch(() => undefined);
        return fail(new AirlockError('proxy.row_limit', `the result has more than ${maxRows} rows, the limit for this connection; add a LIMIT or a narrower filter`));
      }
      rowCount += count(batch);
      return batch;
    };
    /** keeps a masked row for the recording, as the client gets it, within the connection's limits */
    const record = (size: number, row: () => Array<string | null>) => {
      if (kept.length < keepRows && keptBytes + size <= keepBytes) {
        kept.push(row());
        keptBytes += size;
      } else truncated = true;
    };
    const readWire = portal.readWire?.bind(portal);
    const wire = readWire ? new WireMasker(masker, columns?.length ?? 0) : undefined;
    return {
      requestId,
      columns,
      read: async (max) => {
        const batch = await next(max, (n) => portal.read(n), (b) => b.rows.length);
        if (!batch.done) await startRecorded();
        for (const row of batch.rows) {
          masker?.maskRow(row);
          let size = 0;
          for (const v of row) if (v !== null) size += Buffer.byteLength(v);
          bytes += size;
          record(size, () => row.slice());
        }
        if (batch.done) await finish(batch.tag);
        return batch;
      },
      ...(readWire && wire
        ? {
            readWire: async (max: number) => {
              const batch = await next(max, readWire, (b) => b.rows.count);
              if (!batch.done) await startRecorded();
              const masked = wire.mask(batch.rows);
              bytes += masked.bytes;
              recordWire(masked.parts, batch.rows.count);
              if (batch.done) await finish(batch.tag);
              return { parts: masked.parts, count: batch.rows.count, done: batch.done, tag: batch.tag };
            },
          }
        : {}),
      close: async () => {
        if (finished) return;
        await portal.close().catch(() => undefined);
        await finish('CLOSED');
      },
      fail: (err) => {
        if (!finished) {
          finished = true;
          ends.ended('abandoned');
        }
        // the client is gone or its front door failed: nothing waits for this answer, the record is still retried
        const { e, recorded } = this.#recordFailure(run, err, decision, sent());
        void recorded.catch(() => undefined);
        this.#settle(run, e);
        return e;
      },
    };
  }

  #masker(plan: MaskingPlan, fields: ColumnInfo[]): Masker {
    let effective: MaskingPlan = plan;
    const known = plan.columns.length;
    const anyMask = plan.maskUnlisted || plan.columns.some((c) => c.action !== null);
    // lineage predicted the columns but the server returned another number, or other names in those places: the
    // catalogue policy decided with is out of date (a column added since it was read may be one a rule masks; a column
    // dropped and another added moves every column after it under another column's action), so nothing is shown in
    // clear (fail closed)
    if ((anyMask || known > 0) && (known !== fields.length || movedColumns(plan, fields))) {
      // the statement's shape differs from what lineage predicted: redact every column (fail closed)
      effective = { columns: [], maskUnlisted: true, detectors: plan.detectors };
    }
    const columns = fields.map((f, index) => {
      const c = effective.columns.find((x) => x.index === index);
      const textual = f.textual;
      const unlistedMasked = !c && effective.maskUnlisted;
      let action = c ? c.action : unlistedMasked ? ({ kind: 'redact' } as const) : null;
      // a masked value of a non-text type, or of text with a grammar (JSON, XML, arrays), must still parse as that
      // type: it becomes NULL
      if (action && (!textual || f.structured === true)) action = { kind: 'null' };
      return { index, name: f.name, action, detect: textual && (c?.detect ?? true) };
    });
    return createMasker({ plan: { columns, maskUnlisted: false, detectors: effective.detectors }, hashKey: this.#deps.hashKey, columnCount: fields.length });
  }

  /** A statement the client abandoned without a close still ends its trace. */
  endAll(): void {
    for (const span of this.#spans.values()) span.end();
    this.#spans.clear();
  }

  /** Ends a statement's root span and times it: once, after its per-statement lease was revoked. */
  #settle(run: Run, failure?: ClientError): void {
    const span = this.#spans.get(run.requestId);
    if (!span) return;
    this.#spans.delete(run.requestId);
    this.#deps.metrics?.statementSeconds.observe({ connection: this.#deps.connection, outcome: failure ? 'failed' : 'completed' }, (performance.now() - run.started) / 1000);
    span.end(failure ? new AirlockError(failure.code, 'the statement failed') : undefined);
  }
}

/**
 * Waits for a completed statement's record; a record not stored in time (the event stream is unreachable) turns the
 * completion into this error, so that no client is told of a completion the audit log may never hold.
 */
async function completionRecorded(stored: Promise<void>, requestId: string): Promise<void> {
  try {
    await stored;
  } catch {
    throw new AirlockError(
      'runtime.unavailable',
      'Airlock could not store the audit record of this statement in time (its event stream is unreachable), so it does not report it complete; ' +
        'the statement may have taken effect in the database: check before you send it again',
      { requestId },
    );
  }
}

/**
 * Whether a PostgreSQL result names a column other than the one the plan has in its place. PostgreSQL names each
 * output column as lineage does (the column, its alias, or the function's name), so another name at the same position
 * means the columns moved since the catalogue was read: with the count unchanged (one column dropped, one added), the
 * plan's actions would land on the wrong values. Snowflake's names for expressions are its own, so only the count is
 * compared there.
 */
function movedColumns(plan: MaskingPlan, fields: ColumnInfo[]): boolean {
  return plan.columns.some((c) => {
    const field = fields[c.index];
    return field?.pg !== undefined && field.name !== c.name;
  });
}
