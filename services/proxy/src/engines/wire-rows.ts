/**
 * Rows in PostgreSQL's own wire form: DataRow messages (type `D`, an int32 length that counts itself, an int16 field
 * count, then per field an int32 length, -1 for NULL, and that many bytes of the value's text), back to back. The
 * PostgreSQL engine hands its rows on in this form and the pgwire door sends them in it, so a value nobody masks is
 * copied as bytes, never decoded into a string and encoded again.
 */

/** Whole DataRow messages: each part holds complete messages only; `count` messages over all parts. */
export interface WireRows {
  parts: Buffer[];
  count: number;
}

/** DataRow's message type byte */
export const DATA_ROW = 0x44;

/** The offset just past the DataRow message that starts at `o`. */
export function nextMessage(b: Buffer, o: number): number {
  return o + 1 + b.readUInt32BE(o + 1);
}

/** Each DataRow message as text values, as node-postgres would parse them (UTF-8, NULL as null). */
export function decodeWireRows(rows: WireRows): Array<Array<string | null>> {
  const out: Array<Array<string | null>> = new Array(rows.count);
  let k = 0;
  for (const b of rows.parts) {
    let o = 0;
    while (o < b.length) {
      const end = nextMessage(b, o);
      out[k++] = decodeDataRow(b, o);
      o = end;
    }
  }
  return out;
}

/** The values of the DataRow message at `o`. */
export function decodeDataRow(b: Buffer, o: number): Array<string | null> {
  const n = b.readInt16BE(o + 5);
  const row: Array<string | null> = new Array(n);
  let p = o + 7;
  for (let i = 0; i < n; i++) {
    const len = b.readInt32BE(p);
    p += 4;
    if (len < 0) row[i] = null;
    else {
      row[i] = b.toString('utf8', p, p + len);
      p += len;
    }
  }
  return row;
}

/** The UTF-8 bytes of the values of the DataRow message at `o` (the message less its header and field lengths). */
export function dataRowValueBytes(b: Buffer, o: number): number {
  return b.readUInt32BE(o + 1) - 6 - 4 * b.readInt16BE(o + 5);
}
