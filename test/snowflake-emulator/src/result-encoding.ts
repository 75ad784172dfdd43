/**
 * PostgreSQL result → Snowflake JSON result (`rowtype` + `rowset` of strings), in the encodings snowflake-sdk decodes:
 * NUMBER as decimal text, DATE as epoch days, TIME as seconds since midnight, timestamps as epoch seconds with nine
 * decimals (TIMESTAMP_TZ adds " <offset minutes + 1440>"), BINARY as upper-case hex, VARIANT as JSON text.
 */
import type { MarkedType } from './translate.js';

export interface RowType {
  name: string;
  database: string;
  schema: string;
  table: string;
  type: string;
  nullable: boolean;
  precision: number | null;
  scale: number | null;
  length: number | null;
  byteLength: number | null;
  collation: null;
}

export type Cell = string | null;

/** The subset of pg's FieldDef that the encoder reads. */
export interface PgField {
  name: string;
  dataTypeID: number;
  dataTypeModifier: number;
  tableID: number;
  columnID: number;
}

export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  timetz: 1266,
  numeric: 1700,
  jsonb: 3802,
} as const;

const TEXT_LENGTH = 16777216;
const TIME_SCALE = 9;

/** A rowtype entry for emulator-built results (SHOW USERS, status rows, DML counts). */
export function column(name: string, type: 'text' | 'fixed' | 'timestamp_ltz' | 'boolean', database = '', schema = ''): RowType {
  return {
    name,
    database,
    schema,
    table: '',
    type,
    nullable: true,
    precision: type === 'fixed' ? 38 : type === 'timestamp_ltz' ? 0 : null,
    scale: type === 'fixed' ? 0 : type === 'timestamp_ltz' ? TIME_SCALE : null,
    length: type === 'text' ? TEXT_LENGTH : null,
    byteLength: type === 'text' ? TEXT_LENGTH : null,
    collation: null,
  };
}

/** Unquoted identifiers come back from PostgreSQL lower-case; Snowflake reports them upper-case. */
export function reportedColumnName(pgName: string): string {
  return pgName === pgName.toLowerCase() ? pgName.toUpperCase() : pgName;
}

export function markerKey(tableID: number, columnID: number): string {
  return `${tableID}:${columnID}`;
}

export interface EncodeContext {
  database: string;
  schema: string;
  /** Snowflake types recorded for table columns whose PostgreSQL type is ambiguous. */
  markers: Map<string, MarkedType>;
}

/** Encode a whole buffered PostgreSQL result. Rows are arrays of PostgreSQL text values (raw type parsers). */
export function encodeResult(fields: PgField[], rows: Cell[][], ctx: EncodeContext): { rowtype: RowType[]; rowset: Cell[][] } {
  const encoders = fields.map((f, i) => encoderFor(f, i, rows, ctx));
  const rowtype = encoders.map((e) => e.rowtype);
  const rowset = rows.map((row) => row.map((v, i) => (v === null ? null : encoders[i].encode(v))));
  return { rowtype, rowset };
}

interface Encoder {
  rowtype: RowType;
  encode(v: string): string;
}

function encoderFor(f: PgField, idx: number, rows: Cell[][], ctx: EncodeContext): Encoder {
  const base = column(reportedColumnName(f.name), 'text', ctx.database, ctx.schema);
  const marker = f.tableID ? ctx.markers.get(markerKey(f.tableID, f.columnID)) : undefined;
  const as = (type: string, extra: Partial<RowType>, encode: (v: string) => string): Encoder => ({
    rowtype: { ...base, type, length: null, byteLength: null, precision: null, scale: null, ...extra },
    encode,
  });
  const same = (v: string): string => v;
  switch (f.dataTypeID) {
    case OID.int2:
    case OID.int4:
    case OID.int8:
    case OID.oid:
      return as('fixed', { precision: 38, scale: 0 }, same);
    case OID.numeric: {
      if (f.dataTypeModifier >= 4) {
        const mod = f.dataTypeModifier - 4;
        return as('fixed', { precision: (mod >> 16) & 0xffff, scale: mod & 0xffff }, same);
      }
      // Unconstrained numeric: report the largest scale present so that metadata matches the values sent.
      let scale = 0;
      for (const r of rows) {
        const v = r[idx];
        const dot = v ? v.indexOf('.') : -1;
        if (v && dot >= 0) scale = Math.max(scale, v.length - dot - 1);
      }
      return as('fixed', { precision: 38, scale: Math.min(scale, 37) }, same);
    }
    case OID.float4:
    case OID.float8:
      return as('real', {}, same);
    case OID.bool:
      return as('boolean', {}, (v) => (v === 't' || v === 'true' ? '1' : '0'));
    case OID.date:
      return as('date', {}, (v) => String(daysFromText(v)));
    case OID.time:
    case OID.timetz:
      return as('time', { precision: 0, scale: TIME_SCALE }, (v) => formatMicros(timeMicros(v)));
    case OID.timestamp:
      return as('timestamp_ntz', { precision: 0, scale: TIME_SCALE }, (v) => formatMicros(timestampMicros(v).utcMicros));
    case OID.timestamptz:
      if (marker === 'TIMESTAMP_TZ') {
        return as('timestamp_tz', { precision: 0, scale: TIME_SCALE }, (v) => {
          const t = timestampMicros(v);
          return `${formatMicros(t.utcMicros)} ${t.offsetMinutes + 1440}`;
        });
      }
      return as('timestamp_ltz', { precision: 0, scale: TIME_SCALE }, (v) => formatMicros(timestampMicros(v).utcMicros));
    case OID.json:
    case OID.jsonb:
      return as(marker === 'OBJECT' ? 'object' : marker === 'ARRAY' ? 'array' : 'variant', {}, same);
    case OID.bytea:
      return as('binary', { length: 8388608, byteLength: 8388608 }, (v) => (v.startsWith('\\x') ? v.slice(2).toUpperCase() : Buffer.from(v).toString('hex').toUpperCase()));
    case OID.varchar:
    case OID.bpchar: {
      const len = f.dataTypeModifier >= 4 ? f.dataTypeModifier - 4 : TEXT_LENGTH;
      return { rowtype: { ...base, length: len, byteLength: len * 4 > TEXT_LENGTH ? TEXT_LENGTH : len * 4 }, encode: same };
    }
    default:
      return { rowtype: base, encode: same };
  }
}

/** Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DATE_RE = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/;

function daysFromText(v: string): number {
  const m = DATE_RE.exec(v);
  if (!m) throw new Error(`unsupported date value ${v}`);
  const year = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  return daysFromCivil(year, Number(m[2]), Number(m[3]));
}

function fracMicros(frac: string | undefined): bigint {
  return BigInt(((frac ?? '') + '000000').slice(0, 6));
}

function timeMicros(v: string): bigint {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(v);
  if (!m) throw new Error(`unsupported time value ${v}`);
  return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n + fracMicros(m[4]);
}

const TS_RE = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?)?( BC)?$/;

/** Parse PostgreSQL's ISO timestamp output (DateStyle ISO) into UTC epoch microseconds and the printed offset. */
function timestampMicros(v: string): { utcMicros: bigint; offsetMinutes: number } {
  const m = TS_RE.exec(v);
  if (!m) throw new Error(`unsupported timestamp value ${v}`);
  const year = m[12] ? 1 - Number(m[1]) : Number(m[1]);
  const days = daysFromCivil(year, Number(m[2]), Number(m[3]));
  const secs = BigInt(days) * 86400n + BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]));
  let micros = secs * 1_000_000n + fracMicros(m[7]);
  let offsetMinutes = 0;
  if (m[8]) {
    const sign = m[8] === '-' ? -1 : 1;
    const offsetSeconds = sign * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
    offsetMinutes = Math.trunc(offsetSeconds / 60);
    micros -= BigInt(offsetSeconds) * 1_000_000n;
  }
  return { utcMicros: micros, offsetMinutes };
}

/** Seconds with nine decimals, exact, sign-correct for values before the epoch. */
export function formatMicros(micros: bigint): string {
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const whole = abs / 1_000_000n;
  const frac = (abs % 1_000_000n).toString().padStart(6, '0');
  return `${neg ? '-' : ''}${whole}.${frac}000`;
}

/** Encode a JS Date (emulator-built results) as TIMESTAMP_LTZ. */
export function encodeDate(d: Date | null): Cell {
  return d === null ? null : formatMicros(BigInt(d.getTime()) * 1000n);
}
