import { randomUUID } from 'node:crypto';

/** What travels with every request and event across the bus: W3C trace context and the statement's request id. */
export interface CallContext {
  requestId: string;
  traceparent: string;
  /** vendor trace state, passed on unchanged */
  tracestate?: string;
  /**
   * Set by newContext: no span was recorded under this traceparent, so the first span started from it begins a new
   * trace rather than pointing at a parent that no tracer exported. With tracing off the traceparent itself is used.
   */
  fresh?: true;
}

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A new sampled traceparent. Its ids come from `randomUUID`, which Node serves from a cache of random bytes it
 * refills in bulk: every statement starts a context, and two calls into the generator of their own cost more than the
 * rest of it. The trace id is a UUID's 32 hex digits (122 of its bits random), the span id 16 random hex digits of
 * another.
 */
export function newTraceparent(): string {
  const trace = randomUUID();
  const span = randomUUID();
  return `00-${trace.slice(0, 8)}${trace.slice(9, 13)}${trace.slice(14, 18)}${trace.slice(19, 23)}${trace.slice(24)}-${span.slice(0, 8)}${span.slice(9, 13)}${span.slice(24, 28)}-01`;
}

export function traceIdOf(traceparent: string): string | undefined {
  return traceparentPattern.exec(traceparent)?.[1];
}

export function isTraceparent(value: string): boolean {
  return traceparentPattern.test(value);
}

/** The context of work that starts here (a statement, a sweep); spans started from it begin a new trace. */
export function newContext(requestId: string = randomUUID()): CallContext {
  return { requestId, traceparent: newTraceparent(), fresh: true };
}
