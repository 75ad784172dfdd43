import { DATA_ROW } from '../wire-rows.js';

/** Where a statement's DataRow messages go instead of node-postgres's parser. */
export interface RowSink {
  /** `count` whole DataRow messages, back to back in `b` from `start` to `end` */
  rows(b: Buffer, start: number, end: number, count: number): void;
}

type DataListener = (chunk: Buffer) => void;

/**
 * Splits the bytes an upstream connection receives into messages ahead of node-postgres's parser: while a statement
 * has registered itself as the `sink`, its DataRow messages are handed to it as they arrived (slices of the socket's
 * own buffers, never parsed), and every other message goes on to the driver unchanged and in order. The driver's
 * parser is only ever given whole messages, so what it holds between reads is always empty.
 *
 * Messages are delivered in the order they arrived: a run of the driver's messages is passed on before the next
 * DataRow is routed, since the driver's handling of one (ReadyForQuery ends a statement and starts the next, which
 * registers its own sink) decides where that row belongs.
 */
export class RowTap {
  sink: RowSink | undefined;
  readonly #forward: DataListener;
  readonly #fail: (err: Error) => void;
  /** the start of a message that continues in the next chunk: its pieces and their bytes */
  #pieces: Buffer[] = [];
  #pieceBytes = 0;
  /** that message's whole length, once its header is in (else -1) */
  #need = -1;

  private constructor(forward: DataListener, fail: (err: Error) => void) {
    this.#forward = forward;
    this.#fail = fail;
  }

  /**
   * Puts a tap between a connected node-postgres client's socket and its parser, which must be the socket's only
   * `data` listener (pg-protocol's `parse` installs it); anything else is refused rather than guessed at.
   */
  static install(socket: NodeJS.EventEmitter & { destroy(err?: Error): void }): RowTap {
    const listeners = socket.listeners('data') as DataListener[];
    if (listeners.length !== 1) throw new Error(`the PostgreSQL driver's socket has ${listeners.length} data listeners where one was expected`);
    const [parser] = listeners as [DataListener];
    socket.removeListener('data', parser);
    const tap = new RowTap(parser, (err) => socket.destroy(err));
    socket.on('data', (chunk: Buffer) => tap.#onData(chunk));
    return tap;
  }

  #onData(chunk: Buffer): void {
    let o = 0;
    if (this.#pieceBytes > 0) {
      o = this.#completeMessage(chunk);
      if (o < 0) return;
    }
    const length = chunk.length;
    // the current run: messages for the driver (FORWARD) or DataRows for the sink (SINK), from runStart to o
    let run = NONE;
    let runStart = o;
    let rows = 0;
    /** the driver's run holds a message other than a DataRow: its handling may change the sink */
    let mixed = false;
    while (o + 5 <= length) {
      const size = chunk.readUInt32BE(o + 1);
      if (size < 4) return this.#fail(new Error(`the server sent a message of length ${size}`));
      const end = o + 1 + size;
      if (end > length) break;
      if (chunk[o] === DATA_ROW) {
        if (run === FORWARD && mixed) {
          this.#forward(chunk.subarray(runStart, o));
          run = NONE;
        }
        if (run === NONE) {
          run = this.sink ? SINK : FORWARD;
          runStart = o;
          rows = 0;
          mixed = false;
        }
        if (run === SINK) rows++;
      } else {
        if (run === SINK) {
          this.sink!.rows(chunk, runStart, o, rows);
          run = NONE;
        }
        if (run === NONE) {
          run = FORWARD;
          runStart = o;
        }
        mixed = true;
      }
      o = end;
    }
    if (run === SINK) this.sink!.rows(chunk, runStart, o, rows);
    else if (run === FORWARD) this.#forward(chunk.subarray(runStart, o));
    if (o < length) {
      this.#pieces = [chunk.subarray(o)];
      this.#pieceBytes = length - o;
      this.#need = length - o >= 5 ? 1 + chunk.readUInt32BE(o + 1) : -1;
    }
  }

  /**
   * Adds the start of `chunk` to the message begun in earlier chunks; once it is whole, delivers it and returns the
   * offset in `chunk` after it, else keeps the chunk and returns -1. The pieces are joined once, when the message is
   * whole, so a large value arriving in many chunks is copied once.
   */
  #completeMessage(chunk: Buffer): number {
    let used = 0;
    if (this.#need < 0) {
      // fewer than five bytes so far: the length is not known yet
      used = Math.min(5 - this.#pieceBytes, chunk.length);
      const head = Buffer.concat([...this.#pieces, chunk.subarray(0, used)]);
      this.#pieces = [head];
      this.#pieceBytes = head.length;
      if (head.length < 5) return -1;
      const size = head.readUInt32BE(1);
      if (size < 4) {
        this.#fail(new Error(`the server sent a message of length ${size}`));
        return -1;
      }
      this.#need = 1 + size;
    }
    const missing = this.#need - this.#pieceBytes;
    if (chunk.length - used < missing) {
      this.#pieces.push(chunk.subarray(used));
      this.#pieceBytes += chunk.length - used;
      return -1;
    }
    this.#pieces.push(chunk.subarray(used, used + missing));
    const message = Buffer.concat(this.#pieces, this.#need);
    this.#pieces = [];
    this.#pieceBytes = 0;
    this.#need = -1;
    const sink = this.sink;
    if (message[0] === DATA_ROW && sink) sink.rows(message, 0, message.length, 1);
    else this.#forward(message);
    return used + missing;
  }
}

const NONE = 0;
const FORWARD = 1;
const SINK = 2;
