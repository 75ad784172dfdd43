import { createHmac } from 'node:crypto';

/** Canonical JSON: object keys sorted, no whitespace; the encoding the hash chain is computed over. */
export function canonicalJson(value: unknown): string {
  // written as loops over sorted keys: it runs once for every event appended and every row verified
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  // the default sort compares UTF-16 code units, as `<` on strings does
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = object[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

export const genesisHash = '0'.repeat(64);

/**
 * hash(n) = HMAC-SHA256(key, hash(n-1) ‖ canonical record n), with a key only the audit service holds: editing or
 * removing any row breaks every later link, and whoever can write the table cannot compute a new link. Each partition
 * is its own chain; a record of a partition other than the first names its partition, so a row cannot be moved
 * between partitions (the first partition's records are those of the single chain written before partitions).
 */
export function chainHash(key: Buffer, previous: string, record: { seq: number; eventId: string; subject: string; payload: unknown; partition?: number }): string {
  const partition = record.partition ?? 1;
  return createHmac('sha256', key)
    .update(previous)
    .update('\n')
    .update(
      canonicalJson(
        partition === 1
          ? { seq: record.seq, eventId: record.eventId, subject: record.subject, payload: record.payload }
          : { seq: record.seq, partition, eventId: record.eventId, subject: record.subject, payload: record.payload },
      ),
    )
    .digest('hex');
}

/** `chainHash` for a payload already in canonical JSON: the same bytes, without encoding the payload again. */
export function chainHashOfCanonical(key: Buffer, previous: string, seq: number, partition: number, eventId: string, subject: string, canonicalPayload: string): string {
  // keys in canonical (sorted) order: eventId, [partition,] payload, seq, subject
  const record = `{"eventId":${JSON.stringify(eventId)},${partition === 1 ? '' : `"partition":${partition},`}"payload":${canonicalPayload},"seq":${seq},"subject":${JSON.stringify(subject)}}`;
  return createHmac('sha256', key).update(previous).update('\n').update(record).digest('hex');
}
