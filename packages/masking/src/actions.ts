import { createHmac } from 'node:crypto';
import type { MaskAction } from '@airlock/contracts';
import { MaskingPlanError } from './errors.js';

/** What `redact` returns, whatever the value. */
export const REDACTED = '[REDACTED]';

/** Prefix of a `hash` result, so a reader can tell a pseudonym from a clear value. */
export const HASH_PREFIX = 'hmac:';

const STARS = '*'.repeat(64);

/**
 * Characters that `partial` keeps in place: they carry the format of the value ("****-****-****-1111",
 * "(***) ***-2671", "***@*******.com"), not its identity. Letters and digits of every script are starred.
 */
function isSeparator(c: number): boolean {
  // space - . ( ) / + @
  return c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 47 || c === 43 || c === 64;
}

function stars(k: number): string {
  return k <= STARS.length ? STARS.slice(0, k) : '*'.repeat(k);
}

/**
 * Stars every character but the last `keep` non-separator characters; separators stay in place. A value with no more
 * than `keep` such characters is starred entirely, so a short value is never shown whole. Counts code points, so an
 * emoji or other astral character becomes one star.
 */
export function maskPartial(value: string, keep: number): string {
  const n = value.length;
  let significant = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (isSeparator(c)) continue;
    if (c >= 0xdc00 && c <= 0xdfff && i > 0 && isHighSurrogate(value.charCodeAt(i - 1))) continue;
    significant++;
  }
  const toStar = significant <= keep ? significant : significant - keep;
  let out = '';
  let pending = 0;
  let starred = 0;
  let i = 0;
  while (i < n && starred < toStar) {
    const c = value.charCodeAt(i);
    if (isSeparator(c)) {
      if (pending > 0) {
        out += stars(pending);
        pending = 0;
      }
      out += value[i];
      i++;
      continue;
    }
    i += isHighSurrogate(c) && i + 1 < n && isLowSurrogate(value.charCodeAt(i + 1)) ? 2 : 1;
    pending++;
    starred++;
  }
  if (pending > 0) out += stars(pending);
  return i === 0 ? value : out + value.slice(i);
}

/** `isSeparator` by byte, for the byte paths */
const SEPARATOR_BYTE = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 128; c++) if (isSeparator(c)) t[c] = 1;
  return t;
})();

/**
 * `maskPartial` on a value given as bytes, when every byte is ASCII (one byte per character, so the two agree): writes
 * the masked value at `out[at]` and returns its length (that of the value), or -1 when a byte is not ASCII.
 *
 * One pass from the end keeps the last `keep` significant characters and stars the others; a value with no more than
 * `keep` of them, found only at its start, is starred whole in a second pass.
 */
export function maskPartialAscii(src: Uint8Array, start: number, end: number, keep: number, out: Uint8Array, at: number): number {
  const shift = at - start;
  let significant = 0;
  for (let i = end - 1; i >= start; i--) {
    const c = src[i]!;
    if (c >= 0x80) return -1;
    if (SEPARATOR_BYTE[c] === 1) out[i + shift] = c;
    else out[i + shift] = ++significant > keep ? 42 : c; // '*'
  }
  if (significant <= keep) for (let i = start; i < end; i++) if (SEPARATOR_BYTE[src[i]!] === 0) out[i + shift] = 42;
  return end - start;
}

/**
 * `maskEmail` on a value given as bytes, when every byte is ASCII and it holds an `@`: writes `***` and the value from
 * its last `@` at `out[at]` and returns the length written, or -1 (not ASCII, or no `@`: the text path decides).
 */
export function maskEmailAscii(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  let last = -1;
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    if (c >= 0x80) return -1;
    if (c === 64) last = i;
  }
  if (last < 0) return -1;
  out[at] = 42;
  out[at + 1] = 42;
  out[at + 2] = 42;
  let o = at + 3;
  for (let i = last; i < end; i++) out[o++] = src[i]!;
  return o - at;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Replaces the local part with `***` and keeps `@domain` (the last `@`, since a quoted local part may hold one). A value
 * without `@` is not an address this action understands, so it is redacted rather than shown.
 */
export function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  return at < 0 ? REDACTED : '***' + value.slice(at);
}

/** The key's bytes (a string key is UTF-8); an empty key would make every hash guessable, so it is refused. */
export function hashKeyBytes(hashKey: Uint8Array | string): Uint8Array {
  const bytes = typeof hashKey === 'string' ? Buffer.from(hashKey, 'utf8') : Uint8Array.from(hashKey);
  if (bytes.length === 0) throw new MaskingPlanError('the masking hash key is empty: configure a secret key for hash actions');
  return bytes;
}

/**
 * `hmac:` + the first 16 hex characters (64 bits) of HMAC-SHA256(key, utf-8 value): deterministic under one key, so
 * masked columns still join, group and count, while values cannot be recovered or guessed without the key.
 * This is the reference implementation with `node:crypto`; the masker computes the same with `Hmac64`.
 */
export function hashValue(key: Uint8Array, value: string): string {
  return HASH_PREFIX + createHmac('sha256', key).update(value, 'utf8').digest().toString('hex', 0, 8);
}

/** Checks an action's parameters; the message names the column, never a value. */
export function assertAction(action: MaskAction, where: string): void {
  switch (action.kind) {
    case 'redact':
    case 'null':
    case 'email':
    case 'hash':
      return;
    case 'partial':
      if (!Number.isInteger(action.keep) || action.keep < 0) {
        throw new MaskingPlanError(`${where}: partial masking needs a whole number of characters to keep (keep >= 0)`);
      }
      return;
    default:
      throw new MaskingPlanError(`${where}: unknown masking action ${JSON.stringify((action as { kind: unknown }).kind)}`);
  }
}

/**
 * Applies one column action to one non-null value. Pure: for tests and for showing what a plan does. The masker
 * applies the same functions with the key prepared once.
 */
export function applyAction(action: MaskAction, value: string, hashKey: Uint8Array | string): string | null {
  assertAction(action, 'masking action');
  switch (action.kind) {
    case 'redact':
      return REDACTED;
    case 'null':
      return null;
    case 'partial':
      return maskPartial(value, action.keep);
    case 'email':
      return maskEmail(value);
    case 'hash':
      return hashValue(hashKeyBytes(hashKey), value);
  }
}
