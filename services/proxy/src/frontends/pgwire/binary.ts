/**
 * Binary-format values of the extended protocol, for the types drivers send and ask for in binary (JDBC sends
 * `setInt`/`setLong`/`setDouble` parameters and reads named statements' integer, float, boolean and date results in
 * binary). Parameters go upstream as text, and masking works on text, so Airlock converts at the edge; a type it
 * does not convert is refused with an error that names it, never guessed.
 */
import { AirlockError } from '@airlock/runtime';

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;

/** Type oids Airlock converts between binary and text. */
export const BINARY_TYPES: ReadonlySet<number> = new Set([16, 17, 18, 19, 20, 21, 23, 25, 26, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184, 1700, 2950]);

function unsupported(oid: number, what: string): AirlockError {
  return new AirlockError('runtime.invalid_request', `binary ${what} of type oid ${oid} are not supported through Airlock; send them in text format`, {
    sqlState: '0A000',
  });
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function timestampText(micros: bigint, zone: boolean): string {
  const ms = Number(micros / 1000n);
  const d = new Date(PG_EPOCH_MS + ms);
  const frac = Number(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${base}${frac === 0 ? '' : `.${pad(frac, 6)}`}${zone ? '+00' : ''}`;
}

/** A binary parameter as the text the upstream parses; `oid` 0 (unspecified) is read as text. */
export function binaryParamToText(oid: number, b: Buffer): string {
  switch (oid) {
    case 16:
      return b.readUInt8(0) === 0 ? 'false' : 'true';
    case 17:
      return `\\x${b.toString('hex')}`;
    case 20:
      return b.readBigInt64BE(0).toString();
    case 21:
      return String(b.readInt16BE(0));
    case 23:
      return String(b.readInt32BE(0));
    case 26:
      return String(b.readUInt32BE(0));
    case 700:
      return String(b.readFloatBE(0));
    case 701:
      return String(b.readDoubleBE(0));
    case 0:
    case 18:
    case 19:
    case 25:
    case 1042:
    case 1043:
      return b.toString('utf8');
    case 1082: {
      const d = new Date(PG_EPOCH_MS + b.readInt32BE(0) * DAY_MS);
      return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    }
    case 1114:
      return timestampText(b.readBigInt64BE(0), false);
    case 1184:
      return timestampText(b.readBigInt64BE(0), true);
    case 2950: {
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    default:
      throw unsupported(oid, 'parameters');
  }
}

/** A text value from the upstream (already masked) in the binary format the client asked for. */
export function textToBinary(oid: number, text: string): Buffer {
  switch (oid) {
    case 16:
      return Buffer.from([text === 't' || text === 'true' ? 1 : 0]);
    case 17:
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'utf8');
    case 20: {
      const out = Buffer.alloc(8);
      out.writeBigInt64BE(BigInt(text));
      return out;
    }
    case 21: {
      const out = Buffer.alloc(2);
      out.writeInt16BE(Number(text));
      return out;
    }
    case 23: {
      const out = Buffer.alloc(4);
      out.writeInt32BE(Number(text));
      return out;
    }
    case 26: {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(Number(text));
      return out;
    }
    case 700: {
      const out = Buffer.alloc(4);
      out.writeFloatBE(Number(text));
      return out;
    }
    case 701: {
      const out = Buffer.alloc(8);
      out.writeDoubleBE(Number(text));
      return out;
    }
    case 18:
    case 19:
    case 25:
    case 1042:
    case 1043:
      return Buffer.from(text, 'utf8');
    case 2950:
      return Buffer.from(text.replace(/-/g, ''), 'hex');
    case 1700:
      return numericBinary(text);
    case 1082: {
      const m = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(text);
      if (m === null) throw unreadable(oid);
      const out = Buffer.alloc(4);
      out.writeInt32BE(Math.round((Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) - PG_EPOCH_MS) / DAY_MS));
      return out;
    }
    case 1083: {
      const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
      if (m === null) throw unreadable(oid);
      const out = Buffer.alloc(8);
      out.writeBigInt64BE(((BigInt(m[1]!) * 60n + BigInt(m[2]!)) * 60n + BigInt(m[3]!)) * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0')));
      return out;
    }
    case 1114:
    case 1184: {
      // ISO output (DateStyle ISO), with a numeric offset for timestamptz
      const m = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?)?$/.exec(text);
      if (m === null) throw unreadable(oid);
      const offsetSeconds = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
      const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offsetSeconds * 1000 - PG_EPOCH_MS;
      const out = Buffer.alloc(8);
      out.writeBigInt64BE(BigInt(ms) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0')));
      return out;
    }
    default:
      throw unsupported(oid, 'result columns');
  }
}

function unreadable(oid: number): AirlockError {
  return new AirlockError('runtime.invalid_request', `a value of type oid ${oid} is not in the ISO text form Airlock converts to binary; request text format or keep DateStyle ISO`, {
    sqlState: '0A000',
  });
}

/** PostgreSQL's binary numeric: base-10000 digits with a weight, a sign and the display scale. */
function numericBinary(text: string): Buffer {
  if (text === 'NaN') return Buffer.from([0, 0, 0, 0, 0xc0, 0, 0, 0]);
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (m === null) throw unreadable(1700);
  const negative = m[1] === '-';
  const int = m[2]!.replace(/^0+/, '');
  const frac = m[3] ?? '';
  const dscale = frac.length;
  const intPadded = int.padStart(Math.ceil(int.length / 4) * 4, '0');
  const fracPadded = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  let digits: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) digits.push(Number(intPadded.slice(i, i + 4)));
  let weight = digits.length - 1;
  for (let i = 0; i < fracPadded.length; i += 4) digits.push(Number(fracPadded.slice(i, i + 4)));
  while (digits.length > 0 && digits[0] === 0) {
    digits.shift();
    weight -= 1;
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  if (digits.length === 0) weight = 0;
  const out = Buffer.alloc(8 + 2 * digits.length);
  out.writeInt16BE(digits.length, 0);
  out.writeInt16BE(weight, 2);
  out.writeUInt16BE(negative && digits.length > 0 ? 0x4000 : 0, 4);
  out.writeInt16BE(dscale, 6);
  digits.forEach((d, i) => out.writeInt16BE(d, 8 + 2 * i));
  return out;
}
