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
  /** each announced column's treatment */
  readonly #kinds: CellKind[];
  /** each `fixed` column's value, encoded once: undefined until first seen, null for NULL */
  readonly #fixed: Array<Buffer | null | undefined>;
  /** no cell of a row of the announced width is touched */
  readonly #passes: boolean;

  constructor(masker: Masker | undefined, columnCount: number) {
    this.#masker = masker;
    this.#kinds = Array.from({ length: columnCount }, (_, i) => masker?.cellKind(i) ?? 'pass');
    this.#fixed = new Array(columnCount).fill(undefined);
    this.#passes = this.#kinds.every((k) => k === 'pass');
  }

  mask(rows: WireRows): MaskedWireRows {
    const width = this.#kinds.length;
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
    const kinds = this.#kinds;
    const width = kinds.length;
    let size = 64;
    for (const b of rows.parts) size += b.length;
    const w = new Writer(size + (size >> 3));
    let bytes = 0;
    for (const b of rows.parts) {
      let o = 0;
      while (o < b.length) {
        const end = nextMessage(b, o);
        const n = b.readInt16BE(o + 5);
        const rowStart = w.at;
        // input bytes not written yet: from the message's start (its header is copied, its length set at the end)
        let from = o;
        let p = o + 7;
        for (let i = 0; i < n; i++) {
          const len = b.readInt32BE(p);
          const start = p + 4;
          const next = len < 0 ? start : start + len;
          if (len < 0) {
            p = next;
            continue;
          }
          const kind = i < width ? kinds[i]! : masker.cellKind(i);
          if (kind === 'pass') {
            p = next;
            continue;
          }
          let masked: string | null;
          let fixed: Buffer | null | undefined;
          if (kind === 'fixed') {
            // the cell is counted as masked; its value is never read
            masked = masker.maskCell(i, '');
            fixed = i < width ? this.#fixedValue(i, masked) : undefined;
          } else {
            // on the bytes where the masker can: the result goes after the bytes still to copy and the length field
            const pending = p - from;
            w.reserve(pending + 4 + len + 3);
            const done = masker.maskUtf8(i, b, start, next, w.buffer, w.at + pending + 4);
            if (done === UNCHANGED) {
              p = next;
              continue;
            }
            if (done !== AS_TEXT) {
              w.copy(b, from, p);
              w.int32(done);
              w.at += done;
              p = next;
              from = next;
              continue;
            }
            const value = (b as Buffer & NativeText).utf8Slice(start, next);
            masked = masker.maskCell(i, value);
            if (masked === value) {
              p = next;
              continue;
            }
          }
          w.copy(b, from, p);
          if (masked === null) w.int32(-1);
          else if (fixed) {
            w.int32(fixed.length);
            w.copy(fixed, 0, fixed.length);
          } else w.lengthAndText(masked);
          p = next;
          from = next;
        }
        w.copy(b, from, end);
        const length = w.at - rowStart - 1;
        w.buffer.writeUInt32BE(length, rowStart + 1);
        bytes += length - 6 - 4 * n;
        o = end;
      }
    }
    return { parts: [w.buffer.subarray(0, w.at)], bytes };
  }

  #fixedValue(column: number, masked: string | null): Buffer | null {
    let fixed = this.#fixed[column];
    if (fixed === undefined) {
      fixed = masked === null ? null : Buffer.from(masked, 'utf8');
      this.#fixed[column] = fixed;
    }
    return fixed;
  }
}

/** A buffer written front to back that doubles when it fills. */
class Writer {
  buffer: Buffer;
  at = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  /** room for `n` more bytes; the buffer may be replaced */
  reserve(n: number): void {
    if (this.at + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + n));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  copy(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.reserve(n);
    const out = this.buffer;
    const at = this.at;
    // a native copy costs more than a short loop
    if (n < 48) for (let k = 0; k < n; k++) out[at + k] = src[start + k]!;
    else src.copy(out, at, start, end);
    this.at = at + n;
  }

  int32(v: number): void {
    this.reserve(4);
    this.buffer.writeInt32BE(v, this.at);
    this.at += 4;
  }

  /** a value's length and its UTF-8 text */
  lengthAndText(s: string): void {
    const n = s.length;
    this.reserve(4 + 3 * n);
    const out = this.buffer;
    const at = this.at + 4;
    // ASCII, the common case, byte by byte; anything else by the encoder
    let written = 0;
    while (written < n) {
      const c = s.charCodeAt(written);
      if (c >= 0x80) break;
      out[at + written] = c;
      written++;
    }
    if (written < n) written = (out as Buffer & NativeText).utf8Write(s, at, out.length - at);
    out.writeInt32BE(written, this.at);
    this.at = at + written;
  }
}

/** Buffer's own UTF-8 codec, without `toString` and `write`'s argument handling around it. */
interface NativeText {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length: number): number;
}
