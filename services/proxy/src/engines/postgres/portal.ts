import { serialize } from 'pg-protocol';
import type { FieldDescription } from '../engine.js';
import { decodeWireRows, nextMessage, type WireRows } from '../wire-rows.js';
import type { RowSink, RowTap } from './row-tap.js';

/** The part of node-postgres's connection a query drives: its socket, its message events, Sync and Close. */
export interface PgConnection extends NodeJS.EventEmitter {
  stream: { write(b: Buffer): boolean; writable: boolean; pause(): unknown; resume(): unknown };
  sync(): void;
  close(msg: { type: 'P' | 'S'; name?: string }): void;
  sendCopyFail(message: string): void;
}

export type Row = Array<string | null>;

/** the most rows one Execute asks for, however narrow they are */
const MAX_BATCH_ROWS = 16_384;

/** a whole result's batch for the reader when the spec gives no `batchBytes` */
const DEFAULT_WHOLE_BATCH_BYTES = 256 * 1024;

/** how long a whole result stopped early may drain after its cancel was delivered before its connection is given up */
const CANCEL_GRACE_MS = 2000;

/** How a statement reaches the server: its text, parameters, and the named statement it may use or create. */
export interface PortalSpec {
  text: string;
  values: Array<string | null>;
  /** a server-side prepared statement for this text: `parse` when it must be created first */
  statement?: { name: string; parse: boolean };
  /** rows of the first Execute */
  batchRows: number;
  /**
   * the bytes each later Execute aims for: its rows are this over the mean size of the rows so far (at least one,
   * at most `MAX_BATCH_ROWS`), so a batch of wide rows stays as small in memory as one of narrow rows
   */
  batchBytes?: number;
  /** the connection's tap: this statement's DataRow messages come through it, unparsed */
  tap: RowTap;
  /** named statements of this connection no longer used: closed first, in the same write */
  closeStatements?: string[];
  /** the named statement was created (ParseComplete): later statements with this text only Bind */
  onParsed?: () => void;
  /**
   * Asks for the whole result in the first write (Execute with no row limit, then Sync), for a read outside a
   * transaction block: one round trip instead of two for a small result. The socket is paused while the rows not yet
   * read hold twice `batchBytes`, so the server waits instead of the proxy buffering; a read stopped early is
   * cancelled with `cancel` (true once the server took the request) and the rest of its result drained; when the
   * cancel is not delivered, or the server is not ready again `CANCEL_GRACE_MS` after it, the connection is given up
   * (`abandon`) rather than drained whole. Only for statements that change nothing: a cancel that lands after the rows
   * were sent may still roll the implicit transaction back.
   */
  whole?: { cancel(): Promise<boolean>; abandon(): void };
}

/** A row description as node-postgres's parser reports it. */
interface PgField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
}

/**
 * One statement as a node-postgres "submittable": the client's queue runs it when the connection is free, hands it
 * the server's messages, and moves on at its ReadyForQuery, so TLS, authentication, cancel keys and the queue stay
 * the driver's.
 *
 * Messages are written by hand with pg-protocol's serializer because pg's Query and pg-cursor each cost round trips
 * this path does not need: pg-cursor waits for RowDescription before its first Execute and closes every portal with
 * an extra Close/Sync exchange. Here Parse (only when the statement is not yet prepared on this connection), Bind,
 * Describe and the first Execute leave in one write; a result that fits its first batch ends with one Sync.
 *
 * Each Execute is followed by Flush, not Sync: outside a transaction block Sync ends the implicit transaction and
 * drops a suspended portal, and the driver ends a query at its first ReadyForQuery. Sync is sent once, when the
 * statement completed, failed or was closed; the result is `done` only at ReadyForQuery, since the transaction
 * status and a failure at commit (a deferred constraint) arrive there. A read outside a transaction block asks for its
 * `whole` result instead: one Execute with no row limit and the Sync in the first write, held back by the socket.
 *
 * Rows arrive as the server's DataRow messages, taken off the socket by the connection's `RowTap` before the driver
 * parses them: `readWire` hands them on as they are, `read` decodes them into text values.
 *
 * Memory stays bounded: rows are fetched a batch at a time (`batchRows`, then about `batchBytes`), with one batch
 * fetched ahead of the reader.
 */
export class PortalQuery implements RowSink {
  readonly fields: Promise<FieldDescription[] | null>;
  tag: string | undefined;
  readonly #spec: PortalSpec;
  #connection: PgConnection | undefined;
  #resolveFields!: (f: FieldDescription[] | null) => void;
  #rejectFields!: (e: unknown) => void;
  /** rows received and not yet read: runs of whole DataRow messages, oldest first */
  #parts: Array<{ b: Buffer; start: number; end: number; count: number }> = [];
  #buffered = 0;
  /** the bytes of the rows buffered */
  #bufferedBytes = 0;
  /** the socket is paused: the rows not yet read hold enough (whole results only) */
  #paused = false;
  /** rows the server sent, over every batch */
  #received = 0;
  /** the bytes of those rows' DataRow messages */
  #receivedBytes = 0;
  /** rows per Execute now */
  #batch: number;
  /** an Execute was sent and its batch has not ended */
  #fetching = true;
  /** CommandComplete (or EmptyQueryResponse) came: no more rows */
  #complete = false;
  #synced = false;
  #closing = false;
  /** ReadyForQuery came, or the statement failed */
  #ended = false;
  #error: unknown;
  #waiter: { max: number; resolve: (r: { rows: WireRows; done: boolean }) => void; reject: (e: unknown) => void } | undefined;
  #closed: Array<() => void> = [];
  readonly #onNoData = () => this.#resolveFields(null);
  readonly #onParseComplete = () => this.#spec.onParsed?.();

  constructor(spec: PortalSpec) {
    this.#spec = spec;
    this.#batch = spec.batchRows;
    this.fields = new Promise((resolve, reject) => {
      this.#resolveFields = resolve;
      this.#rejectFields = reject;
    });
    this.fields.catch(() => undefined);
  }

  /** Called by the client's queue when the connection is free: the whole opening goes out in one write. */
  submit(connection: PgConnection): void {
    this.#connection = connection;
    const { text, values, statement, batchRows } = this.#spec;
    const name = statement?.name ?? '';
    const messages: Buffer[] = (this.#spec.closeStatements ?? []).map((n) => serialize.close({ type: 'S', name: n }));
    if (!statement || statement.parse) messages.push(serialize.parse({ name, text }));
    messages.push(
      serialize.bind({ statement: name, values }),
      serialize.describe({ type: 'P' }),
      // the server holds its replies until a Flush: without this one the row description of a long statement would
      // come only when its first batch is done, and the statement would not count as started (nor be cancelled) before
      serialize.flush(),
    );
    if (this.#spec.whole) {
      // everything at once: the rows, the completion and ReadyForQuery come back without another write
      messages.push(serialize.execute({ rows: 0 }), serialize.sync());
      this.#synced = true;
    } else {
      messages.push(serialize.execute({ rows: batchRows }), serialize.flush());
    }
    this.#spec.tap.sink = this;
    connection.once('noData', this.#onNoData);
    if (statement?.parse) connection.once('parseComplete', this.#onParseComplete);
    if (connection.stream.writable) connection.stream.write(Buffer.concat(messages));
  }

  handleRowDescription(msg: { fields: PgField[] }): void {
    this.#connection?.off('noData', this.#onNoData);
    this.#resolveFields(
      msg.fields.map((f) => ({
        name: f.name,
        tableOid: f.tableID,
        columnAttr: f.columnID,
        typeOid: f.dataTypeID,
        typeSize: f.dataTypeSize,
        typeModifier: f.dataTypeModifier,
      })),
    );
  }

  /** DataRow messages, from the tap. */
  rows(b: Buffer, start: number, end: number, count: number): void {
    // rows of a batch still in flight when the reader closed the portal are dropped
    this.#received += count;
    this.#receivedBytes += end - start;
    if (this.#closing || this.#ended) return;
    this.#parts.push({ b, start, end, count });
    this.#buffered += count;
    this.#bufferedBytes += end - start;
    if (this.#spec.whole && !this.#paused && this.#bufferedBytes >= 2 * this.#wholeBatchBytes) {
      // the server waits on its socket until the reader catches up
      this.#paused = true;
      this.#connection?.stream.pause();
    }
    this.#serve();
  }

  /** for a whole result, the bytes that make a batch for the reader */
  get #wholeBatchBytes(): number {
    return this.#spec.batchBytes ?? DEFAULT_WHOLE_BATCH_BYTES;
  }

  /** A row the driver parsed: the tap let one through, which it never does while this statement is its sink. */
  handleDataRow(): void {
    this.handleError(new Error('a result row reached the driver instead of the statement'));
  }

  handlePortalSuspended(): void {
    this.#fetching = false;
    this.#serve(true);
    this.#fetchAhead();
  }

  handleCommandComplete(msg: { text: string }): void {
    // a SELECT's tag counts the rows of its last Execute only: the client, which asked for all of them, gets the total
    this.tag = this.#received > 0 && /^SELECT \d+$/.test(msg.text) ? `SELECT ${this.#received}` : msg.text;
    this.#finishUpstream();
  }

  handleEmptyQuery(): void {
    this.#finishUpstream();
  }

  /** COPY is not spoken on this path: refusing it makes the server answer with an error. */
  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail('COPY is not supported through Airlock');
  }

  handleCopyData(): void {}

  handleReadyForQuery(): void {
    this.#ended = true;
    this.#detach();
    this.#serve(true);
    for (const resolve of this.#closed.splice(0)) resolve();
  }

  /** A server error, or the connection's loss; the driver gives no ReadyForQuery to this query after it. */
  handleError(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    this.#detach();
    this.#rejectFields(err);
    // the server skips everything up to a Sync after an error: one is owed unless it was already sent
    if (!this.#synced && this.#connection?.stream.writable) this.#connection.sync();
    this.#synced = true;
    this.#parts = [];
    this.#buffered = 0;
    this.#bufferedBytes = 0;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(err);
    for (const resolve of this.#closed.splice(0)) resolve();
  }

  /** Up to `max` rows as text; `done` once the last row was read and the server is ready for the next statement. */
  async read(max: number): Promise<{ rows: Row[]; done: boolean }> {
    const batch = await this.readWire(max);
    return { rows: decodeWireRows(batch.rows), done: batch.done };
  }

  /** Up to `max` rows as the server sent them; `done` as for `read`. */
  readWire(max: number): Promise<{ rows: WireRows; done: boolean }> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#waiter) return Promise.reject(new Error('a read is already waiting on this portal'));
    return new Promise((resolve, reject) => {
      this.#waiter = { max: Math.max(1, max), resolve, reject };
      this.#serve();
      this.#fetchAhead();
    });
  }

  /**
   * Stops early: the portal is closed and the statement's implicit transaction ends at the Sync. A whole result still
   * coming is cancelled and the rest of it drained (and dropped): resolves once the server is ready again and the
   * cancel was delivered, so that it cannot reach the connection's next statement.
   */
  close(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#closing = true;
    this.#parts = [];
    this.#buffered = 0;
    this.#bufferedBytes = 0;
    const whole = this.#spec.whole;
    if (whole) {
      this.#resume();
      const ready = new Promise<void>((resolve) => this.#closed.push(resolve));
      if (this.#complete) return ready;
      return (async () => {
        const delivered = await whole.cancel();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), delivered ? CANCEL_GRACE_MS : 0)));
        const ended = await Promise.race([ready.then(() => true), late]);
        clearTimeout(timer);
        // bounded either way: a result that would not stop is not drained whole, its connection is given up instead
        if (!ended) whole.abandon();
      })();
    }
    if (!this.#synced) {
      this.#synced = true;
      this.#connection?.close({ type: 'P' });
      this.#connection?.sync();
    }
    return new Promise((resolve) => this.#closed.push(resolve));
  }

  /** The last batch arrived: Sync asks for ReadyForQuery, which carries the transaction status and commit outcome. */
  #finishUpstream(): void {
    this.#fetching = false;
    this.#complete = true;
    if (!this.#synced) {
      this.#synced = true;
      this.#connection?.sync();
    }
  }

  /**
   * Answers a waiting read when it can be: a full request, a batch boundary with rows, or the end. No batch in flight
   * counts as a boundary: a read that asks for more rows than the batches hold, made after the last one ended, gets
   * what is there (no more would come without it, since nothing is fetched while a batch waits unread). Once the
   * last batch came, the read waits for ReadyForQuery instead, so that a small result is one read, done.
   */
  #serve(boundary = !this.#fetching && !this.#complete): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    // a whole result has no batches: a reader is served by rows, by bytes or at the end
    const ready =
      this.#buffered >= waiter.max || this.#ended || (this.#spec.whole ? this.#bufferedBytes >= this.#wholeBatchBytes : boundary && this.#buffered > 0);
    if (!ready) return;
    this.#waiter = undefined;
    const rows = this.#take(waiter.max);
    if (this.#paused && this.#bufferedBytes < this.#wholeBatchBytes) this.#resume();
    waiter.resolve({ rows, done: this.#ended && this.#buffered === 0 });
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#connection?.stream.resume();
  }

  /** The oldest `max` rows buffered (or all of them), as slices of the buffers they arrived in. */
  #take(max: number): WireRows {
    const parts: Buffer[] = [];
    let count = 0;
    const queue = this.#parts;
    let used = 0;
    while (used < queue.length && count < max) {
      const p = queue[used]!;
      if (count + p.count <= max) {
        parts.push(p.b.subarray(p.start, p.end));
        this.#bufferedBytes -= p.end - p.start;
        count += p.count;
        used++;
        continue;
      }
      // the request ends inside this run: split it after the row that fills it
      let o = p.start;
      for (let k = max - count; k > 0; k--) o = nextMessage(p.b, o);
      parts.push(p.b.subarray(p.start, o));
      this.#bufferedBytes -= o - p.start;
      p.count -= max - count;
      p.start = o;
      count = max;
    }
    queue.splice(0, used);
    this.#buffered -= count;
    return { parts, count };
  }

  /** Keeps one batch in flight while at most one batch waits to be read. */
  #fetchAhead(): void {
    if (this.#fetching || this.#complete || this.#closing || this.#ended) return;
    if (this.#buffered > this.#batch) return;
    const connection = this.#connection;
    if (!connection?.stream.writable) return;
    this.#fetching = true;
    const target = this.#spec.batchBytes;
    if (target !== undefined && this.#received > 0) {
      this.#batch = Math.max(1, Math.min(MAX_BATCH_ROWS, Math.floor(target / (this.#receivedBytes / this.#received))));
    }
    connection.stream.write(Buffer.concat([serialize.execute({ rows: this.#batch }), serialize.flush()]));
  }

  #detach(): void {
    // the connection's next statement reads its socket again
    this.#resume();
    if (this.#spec.tap.sink === this) this.#spec.tap.sink = undefined;
    this.#connection?.off('noData', this.#onNoData);
    this.#connection?.off('parseComplete', this.#onParseComplete);
  }
}
