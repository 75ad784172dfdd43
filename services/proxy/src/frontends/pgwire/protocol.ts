/** PostgreSQL frontend/backend protocol 3.0: the message codes and encoders the server side needs. */

export const protocolVersion = 196608;
export const sslRequestCode = 80877103;
export const gssEncRequestCode = 80877104;
export const cancelRequestCode = 80877102;

// the column description is the engine's: the PostgreSQL engine reads it upstream, this door writes it to the client
import type { FieldDescription } from '../../engines/engine.js';

export type { FieldDescription };

export interface ErrorFields {
  severity?: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING' | 'INFO';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function header(type: string, bodyLength: number): Buffer {
  const b = Buffer.allocUnsafe(5 + bodyLength);
  b[0] = type.charCodeAt(0);
  b.writeInt32BE(4 + bodyLength, 1);
  return b;
}

const empty = (type: string) => {
  const b = Buffer.allocUnsafe(5);
  b[0] = type.charCodeAt(0);
  b.writeInt32BE(4, 1);
  return b;
};

export const parseComplete = empty('1');
export const bindComplete = empty('2');
export const closeComplete = empty('3');
export const noData = empty('n');
export const portalSuspended = empty('s');
export const emptyQueryResponse = empty('I');

export function authenticationRequest(code: 0 | 3): Buffer {
  const b = header('R', 4);
  b.writeInt32BE(code, 5);
  return b;
}

export function parameterStatus(name: string, value: string): Buffer {
  const n = Buffer.byteLength(name) + 1;
  const v = Buffer.byteLength(value) + 1;
  const b = header('S', n + v);
  b.write(name, 5);
  b[5 + n - 1] = 0;
  b.write(value, 5 + n);
  b[5 + n + v - 1] = 0;
  return b;
}

export function backendKeyData(pid: number, secret: number): Buffer {
  const b = header('K', 8);
  b.writeInt32BE(pid, 5);
  b.writeInt32BE(secret, 9);
  return b;
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  const b = header('Z', 1);
  b[5] = status.charCodeAt(0);
  return b;
}

export function commandComplete(tag: string): Buffer {
  const len = Buffer.byteLength(tag) + 1;
  const b = header('C', len);
  b.write(tag, 5);
  b[5 + len - 1] = 0;
  return b;
}

/** RowDescription; `formats` are the Bind's result-format codes (absent: every column in text). */
export function rowDescription(fields: readonly FieldDescription[], formats?: readonly number[]): Buffer {
  let len = 2;
  for (const f of fields) len += Buffer.byteLength(f.name) + 1 + 18;
  const b = header('T', len);
  let o = 5;
  b.writeInt16BE(fields.length, o);
  o += 2;
  for (const [i, f] of fields.entries()) {
    o += b.write(f.name, o);
    b[o++] = 0;
    b.writeInt32BE(f.tableOid, o);
    b.writeInt16BE(f.columnAttr, o + 4);
    b.writeInt32BE(f.typeOid, o + 6);
    b.writeInt16BE(f.typeSize, o + 10);
    b.writeInt32BE(f.typeModifier, o + 12);
    b.writeInt16BE(formats === undefined ? 0 : formatOf(formats, i), o + 16);
    o += 18;
  }
  return b;
}

export function parameterDescription(oids: readonly number[]): Buffer {
  const b = header('t', 2 + 4 * oids.length);
  b.writeInt16BE(oids.length, 5);
  oids.forEach((oid, i) => b.writeUInt32BE(oid >>> 0, 7 + 4 * i));
  return b;
}

/** The format code of result column `i` under a Bind's result-format list (none: text; one: every column). */
export function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
}

/** Encodes many DataRow messages into one buffer: one allocation per batch, not per row. */
export function dataRows(rows: ReadonlyArray<ReadonlyArray<string | Buffer | null>>): Buffer {
  let total = 0;
  for (const row of rows) {
    total += 7 + 4 * row.length;
    for (const v of row) if (v !== null) total += typeof v === 'string' ? Buffer.byteLength(v) : v.length;
  }
  const b = Buffer.allocUnsafe(total);
  let o = 0;
  for (const row of rows) {
    const start = o;
    b[o] = 0x44; // 'D'
    o += 5;
    b.writeInt16BE(row.length, o);
    o += 2;
    for (const v of row) {
      if (v === null) {
        b.writeInt32BE(-1, o);
        o += 4;
      } else {
        const n = typeof v === 'string' ? b.write(v, o + 4) : v.copy(b, o + 4);
        b.writeInt32BE(n, o);
        o += 4 + n;
      }
    }
    b.writeInt32BE(o - start - 1, start + 1);
  }
  return b;
}

function fieldsMessage(type: 'E' | 'N', f: ErrorFields): Buffer {
  const severity = f.severity ?? 'ERROR';
  const parts: Array<[string, string]> = [
    ['S', severity],
    ['V', severity],
    ['C', f.code],
    ['M', f.message],
  ];
  if (f.detail) parts.push(['D', f.detail]);
  if (f.hint) parts.push(['H', f.hint]);
  let len = 1;
  for (const [, v] of parts) len += 1 + Buffer.byteLength(v) + 1;
  const b = header(type, len);
  let o = 5;
  for (const [k, v] of parts) {
    b[o++] = k.charCodeAt(0);
    o += b.write(v, o);
    b[o++] = 0;
  }
  b[o] = 0;
  return b;
}

export function errorResponse(f: ErrorFields): Buffer {
  return fieldsMessage('E', f);
}

export function noticeResponse(f: ErrorFields): Buffer {
  return fieldsMessage('N', { ...f, severity: f.severity ?? 'NOTICE' });
}

/** Reads the body of one frontend message. */
export class MessageReader {
  #o = 0;
  constructor(private readonly b: Buffer) {}
  byte(): number {
    return this.b[this.#o++]!;
  }
  int16(): number {
    const v = this.b.readInt16BE(this.#o);
    this.#o += 2;
    return v;
  }
  int32(): number {
    const v = this.b.readInt32BE(this.#o);
    this.#o += 4;
    return v;
  }
  cstring(): string {
    const end = this.b.indexOf(0, this.#o);
    if (end < 0) throw new Error('unterminated string in message');
    const s = this.b.toString('utf8', this.#o, end);
    this.#o = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    const v = this.b.subarray(this.#o, this.#o + n);
    if (v.length !== n) throw new Error('message is shorter than its fields');
    this.#o += n;
    return v;
  }
}

/** A message longer than the buffer accepts in the current phase. */
export class MessageTooLarge extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`a message of ${size} bytes is larger than the ${limit} bytes accepted`);
  }
}

/** Splits a byte stream into messages. The startup phase has no type byte; later messages do. */
export class MessageBuffer {
  #chunks: Buffer = Buffer.alloc(0);
  /** the largest message accepted now; bigger ones are refused before they are read */
  limit: number;
  constructor(limit = 64 * 1024 * 1024) {
    this.limit = limit;
  }
  push(data: Buffer): void {
    this.#chunks = this.#chunks.length === 0 ? data : Buffer.concat([this.#chunks, data]);
  }
  /** a startup-phase packet (length-prefixed, no type), or undefined when incomplete */
  nextStartup(): Buffer | undefined {
    if (this.#chunks.length < 4) return undefined;
    const len = this.#chunks.readInt32BE(0);
    if (len < 8) throw new Error('invalid startup packet length');
    if (len > this.limit) throw new MessageTooLarge(len, this.limit);
    if (this.#chunks.length < len) return undefined;
    const packet = this.#chunks.subarray(4, len);
    this.#chunks = this.#chunks.subarray(len);
    return packet;
  }
  /** a typed message, or undefined when incomplete */
  next(): { type: string; body: Buffer } | undefined {
    if (this.#chunks.length < 5) return undefined;
    const len = this.#chunks.readInt32BE(1);
    if (len < 4) throw new Error('invalid message length');
    if (len + 1 > this.limit) throw new MessageTooLarge(len + 1, this.limit);
    if (this.#chunks.length < len + 1) return undefined;
    const type = String.fromCharCode(this.#chunks[0]!);
    const body = this.#chunks.subarray(5, len + 1);
    this.#chunks = this.#chunks.subarray(len + 1);
    return { type, body };
  }
  get pending(): number {
    return this.#chunks.length;
  }
}
