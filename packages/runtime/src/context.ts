import { randomBytes, randomUUID } from 'node:crypto';

/** What travels with every request and event across the bus: W3C trace context and the statement's request id. */
export interface CallContext {
  requestId: string;
  traceparent: string;
}

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/** A child span id in the same trace, so each hop is visible while the trace id stays one per statement. */
export function childTraceparent(parent: string): string {
  const m = traceparentPattern.exec(parent);
  if (!m) return newTraceparent();
  return `00-${m[1]}-${randomBytes(8).toString('hex')}-${m[3]}`;
}

export function traceIdOf(traceparent: string): string | undefined {
  return traceparentPattern.exec(traceparent)?.[1];
}

export function isTraceparent(value: string): boolean {
  return traceparentPattern.test(value);
}

export function newContext(requestId: string = randomUUID()): CallContext {
  return { requestId, traceparent: newTraceparent() };
}
