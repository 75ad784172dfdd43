import { randomFillSync, randomUUID } from 'node:crypto';

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
 * Random bytes for trace and span ids, drawn from a pool filled in one call for 256 ids, as Node's own randomUUID
 * does: every statement starts a context, and two calls into the generator for each cost more than the rest of it.
 */
const idPool = Buffer.alloc(24 * 256);
let idOffset = idPool.length;

export function newTraceparent(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const at = idOffset;
  idOffset += 24;
  return `00-${idPool.toString('hex', at, at + 16)}-${idPool.toString('hex', at + 16, at + 24)}-01`;
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
