import { AS_TEXT, UNCHANGED, type CellKind, type Masker } from '@airlock/masking';
import { nextMessage, type WireRows } from '../engines/wire-rows.js';

/** Rows masked in their wire form: one buffer or the unchanged input parts, with the UTF-8 bytes of their values. */
export interface MaskedWireRows {
  parts: Buffer[];
  /** UTF-8 bytes of the values, NULLs and message framing left out */
  bytes: number;
}

/**
 * Masks PostgreSQL DataRow messages as `Masker.maskRow` masks the same rows decoded into text, value for value, and
 * counts them the same way; the result differs only in what it costs. A cell is read only when its column's action
 * depends on its value or a detector scans it, and is written anew only when masking changed it: every other byte
 * (untouched columns, NULLs, values a detector found nothing in) is copied as it came, in runs. A column whose cells
 * all become one value (`redact`, `null`) is not decoded at all. Valid UTF-8 (what PostgreSQL sends under
 * `client_encoding=UTF8`) decodes and encodes back to the same bytes, so copying a value is sending the string the
 * text path would have sent.
 */
export class WireMasker {
  readonly #masker: Masker | undefined;
  /** each announced column's treatment: PASS, FIXED or VALUE */
  readonly #ops: Uint8Array;
  /** each `fixed` column's value, encoded once: undefined until first seen, null for NULL */
  readonly #fixed: Array<Buffer | null | undefined>;
  /** no cell of a row of the announced width is touched */
  readonly #passes: boolean;

  constructor(masker: Masker | undefined, columnCount: number) {
    this.#masker = masker;
    this.#ops = Uint8Array.from({ length: columnCount }, (_, i) => opOf(masker?.cellKind(i) ?? 'pass'));
    this.#fixed = new Array(columnCount).fill(undefined);
    this.#passes = this.#ops.every((op) => op === PASS);
  }

  mask(rows: WireRows): MaskedWireRows {
    const width = this.#ops.length;
    if (this.#passes) {
      // every row as it came, unless one is wider than announced: its extra cells are the unlisted columns'
      let bytes = 0;
      let wider = false;
      for (const b of rows.parts) {
        for (let o = 0; o < b.length; o = nextMessage(b, o)) {
          const n = b.readInt16BE(o + 5);
          if (n > width) wider = true;
          bytes += b.readUInt32BE(o + 1) - 6 - 4 * n;
        }
      }
      if (!wider || !this.#masker) return { parts: rows.parts, bytes };
    }
    return this.#rewrite(rows);
  }

  #rewrite(rows: WireRows): MaskedWireRows {
    const masker = this.#masker!;
    const ops = this.#ops;
    const width = ops.length;
    let size = 64;
    for (const b of rows.parts) size += b.length;
    let out: Buffer = Buffer.allocUnsafe(size + (size >> 3));
    let at = 0;
    let bytes = 0;
    for (const b of rows.parts) {
      let o = 0;
      while (o < b.length) {
        const end = o + 1 + int32(b, o + 1);
        const n = (b[o + 5]! << 8) | b[o + 6]!;
        const rowStart = at;
        // input bytes not written yet: from the message's start (its header is copied, its length set at the end)
        let from = o;
        let p = o + 7;
        for (let i = 0; i < n; i++) {
          const len = int32(b, p);
          const start = p + 4;
          if (len < 0) {
            p = start;
            continue;
          }
          const next = start + len;
          const op = i < width ? ops[i]! : opOf(masker.cellKind(i));
          if (op === PASS) {
            p = next;
            continue;
          }
          // room for the bytes still to copy, a length, and the value (masked on bytes: at most 3 bytes longer)
          const pending = p - from;
          if (at + pending + 7 + len > out.length) out = grown(out, at, pending + 7 + len);
          let written: number;
          if (op === FIXED) {
            // the cell is counted as masked; its value is never read
            const fixed = this.#fixedValue(i, masker.maskCell(i, ''));
            if (fixed === null) written = -1;
            else {
              if (at + pending + 4 + fixed.length > out.length) out = grown(out, at, pending + 4 + fixed.length);
              copy(fixed, 0, fixed.length, out, at + pending + 4);
              written = fixed.length;
            }
          } else {
            // on the bytes where the masker can: the result goes after the bytes still to copy and the length field
            written = masker.maskUtf8(i, b, start, next, out, at + pending + 4);
            if (written === UNCHANGED) {
              p = next;
              continue;
            }
            if (written === AS_TEXT) {
              const value = (b as Buffer & NativeText).utf8Slice(start, next);
              const masked = masker.maskCell(i, value);
              if (masked === value) {
                p = next;
                continue;
              }
              if (masked === null) written = -1;
              else {
                if (at + pending + 4 + 3 * masked.length > out.length) out = grown(out, at, pending + 4 + 3 * masked.length);
                written = (out as Buffer & NativeText).utf8Write(masked, at + pending + 4, out.length - at - pending - 4);
              }
            }
          }
          at = copy(b, from, p, out, at);
          writeInt32(out, at, written);
          at += written < 0 ? 4 : 4 + written;
          p = next;
          from = next;
        }
        if (at + end - from > out.length) out = grown(out, at, end - from);
        at = copy(b, from, end, out, at);
        const length = at - rowStart - 1;
        writeInt32(out, rowStart + 1, length);
        bytes += length - 6 - 4 * n;
        o = end;
      }
    }
    return { parts: [out.subarray(0, at)], bytes };
  }

  #fixedValue(column: number, masked: string | null): Buffer | null {
    // a column past the announced ones is not kept: it is rare, and its index unbounded
    if (column >= this.#fixed.length) return masked === null ? null : Buffer.from(masked, 'utf8');
    let fixed = this.#fixed[column];
    if (fixed === undefined) {
      fixed = masked === null ? null : Buffer.from(masked, 'utf8');
      this.#fixed[column] = fixed;
    }
    return fixed;
  }
}

const PASS = 0;
const FIXED = 1;
const VALUE = 2;

function opOf(kind: CellKind): number {
  return kind === 'pass' ? PASS : kind === 'fixed' ? FIXED : VALUE;
}

function int32(b: Buffer, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function writeInt32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Copies `src[start, end)` to `out[at]` (which has room) and returns the position after it. */
function copy(src: Buffer, start: number, end: number, out: Buffer, at: number): number {
  const n = end - start;
  // a native copy costs more than a short loop
  if (n < 48) for (let k = 0; k < n; k++) out[at + k] = src[start + k]!;
  else src.copy(out, at, start, end);
  return at + n;
}

/** A larger buffer holding the first `used` bytes of `b`, with room for `more` after them. */
function grown(b: Buffer, used: number, more: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(b.length * 2, used + more));
  b.copy(next, 0, 0, used);
  return next;
}

/** Buffer's own UTF-8 codec, without `toString` and `write`'s argument handling around it. */
interface NativeText {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length: number): number;
}
