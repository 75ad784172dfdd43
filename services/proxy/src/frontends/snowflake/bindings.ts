import { AirlockError } from '@airlock/runtime';

/** One binding as the connector protocol and the SQL API send it: a logical type and a value as text. */
export interface Binding {
  type?: string;
  value?: unknown;
}

/** A binding the front door cannot pass on; answered in the client's protocol with Snowflake's bind error code. */
export class BindingError extends AirlockError {
  constructor(message: string) {
    super('runtime.invalid_request', message, { sqlState: '42601', snowflakeCode: '002049' });
  }
}

const TRUE_WORDS = new Set(['1', 'TRUE', 'T', 'YES', 'Y', 'ON']);

/** Integer nanoseconds since the epoch (what Python sends for timestamps) as an ISO text Snowflake parses. */
function isoFromNanos(nanos: bigint, withOffset: string | null): string {
  const millis = nanos / 1_000_000n;
  const iso = new Date(Number(millis)).toISOString();
  let fraction = nanos % 1_000_000_000n;
  if (fraction < 0n) fraction += 1_000_000_000n;
  return `${iso.slice(0, 19)}.${fraction.toString().padStart(9, '0')}${withOffset ?? ''}`;
}

function offsetText(encoded: string): string {
  const minutes = Number(encoded) - 1440;
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * One value as text for the upstream, which receives positional text parameters. Drivers send most values as the
 * text Snowflake would parse anyway; Python sends dates and timestamps as epoch numbers, which are turned into ISO
 * text here so that the same statement means the same thing whichever driver sent it.
 */
export function bindingText(type: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  switch (type) {
    case 'BOOLEAN':
      return TRUE_WORDS.has(text.toUpperCase()) ? 'true' : 'false';
    case 'DATE':
      return /^-?\d+$/.test(text) ? new Date(Number(text)).toISOString().slice(0, 10) : text;
    case 'TIMESTAMP':
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ': {
      const m = /^(-?\d+)(?: (\d+))?$/.exec(text);
      if (!m) return text;
      const offset = type === 'TIMESTAMP_NTZ' ? null : m[2] ? offsetText(m[2]) : type === 'TIMESTAMP' ? null : '+00:00';
      return isoFromNanos(BigInt(m[1]!), offset);
    }
    default:
      return text;
  }
}

/**
 * The connector's `bindings` map (`{"1": {type, value}, …}`, 1-based) as positional parameters. Named bindings and
 * array bindings (one statement run per row) are refused: Airlock checks and records one statement with one set
 * of values.
 */
export function bindingsToParams(bindings: Record<string, Binding> | null | undefined): Array<string | null> {
  if (!bindings) return [];
  const entries = Object.entries(bindings);
  if (entries.length === 0) return [];
  const params: Array<string | null> = [];
  const seen = new Set<number>();
  for (const [key, binding] of entries) {
    if (!/^[1-9]\d{0,4}$/.test(key)) {
      throw new BindingError(`binding "${key}" is named; Airlock accepts positional bindings only (? or :1, :2, …)`);
    }
    if (binding === null || typeof binding !== 'object') throw new BindingError(`binding ${key} has no value object`);
    if (Array.isArray(binding.value)) {
      throw new BindingError('array bindings (many rows in one request) are not supported through Airlock; send one statement per row or a multi-row VALUES list');
    }
    const index = Number(key);
    seen.add(index);
    params[index - 1] = bindingText((binding.type ?? 'TEXT').toUpperCase(), binding.value);
  }
  for (let i = 1; i <= params.length; i++) {
    if (!seen.has(i)) throw new BindingError(`Bind variable :${i} not set.`);
  }
  return params;
}
