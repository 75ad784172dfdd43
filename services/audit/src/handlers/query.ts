import { AirlockError } from '@airlock/runtime';

/** A request's query string as Fastify parses it. */
export type Query = Record<string, string | undefined>;

export function integer(q: Query, name: string, min: number): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new AirlockError('runtime.invalid_request', `${name} must be an integer of at least ${min}`);
  return n;
}

export function date(q: Query, name: string): Date | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new AirlockError('runtime.invalid_request', `${name} must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z`);
  return new Date(t);
}

export function oneOf<T extends string>(q: Query, name: string, allowed: readonly T[]): T | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new AirlockError('runtime.invalid_request', `${name} must be one of: ${allowed.join(', ')}`);
  return raw as T;
}

export function text(q: Query, name: string): string | undefined {
  const raw = q[name];
  return raw === undefined || raw === '' ? undefined : raw;
}
