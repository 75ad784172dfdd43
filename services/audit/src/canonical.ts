import { createHmac } from 'node:crypto';

/** Canonical JSON: object keys sorted, no whitespace; the encoding the hash chain is computed over. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export const genesisHash = '0'.repeat(64);

/**
 * hash(n) = HMAC-SHA256(key, hash(n-1) ‖ canonical record n), with a key only the audit service holds: editing or
 * removing any row breaks every later link, and whoever can write the table cannot compute a new link.
 */
export function chainHash(key: Buffer, previous: string, record: { seq: number; eventId: string; subject: string; payload: unknown }): string {
  return createHmac('sha256', key)
    .update(previous)
    .update('\n')
    .update(canonicalJson({ seq: record.seq, eventId: record.eventId, subject: record.subject, payload: record.payload }))
    .digest('hex');
}
