import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AirlockError } from './errors.js';
import { newContext, type CallContext } from './context.js';
import type { Logger } from './logger.js';

export { SpanKind, type Attributes } from '@opentelemetry/api';

/**
 * The W3C Trace Context propagator reads and writes `traceparent`/`tracestate`. It holds no state, so one instance
 * serves every bus; it is used directly rather than through the global propagator because W3C trace context is the
 * bus contract whatever the operator's OTEL_PROPAGATORS says.
 */
const w3c = new W3CTraceContextPropagator();

/** A step being traced, and the CallContext that its children and outgoing messages carry. */
export interface ActiveSpan {
  readonly ctx: CallContext;
  /** false when tracing is off or this trace is not sampled: callers skip work that only feeds attributes */
  readonly recording: boolean;
  /** records what the step learned: statement kind, rule, counts. Never SQL text, tokens or row values. */
  set(attributes: Attributes): void;
  /** ends the span once; an error marks it failed with its Airlock code alone (a message may quote SQL or values) */
  end(err?: unknown): void;
}

export interface StartOptions {
  kind?: SpanKind;
  attributes?: Attributes;
}

/**
 * Spans for one service. Trace context travels explicitly in each CallContext (never in an implicit async context),
 * so a span's parent is exactly the hop that caused it. With no tracer provider registered, the OpenTelemetry API
 * hands out non-recording spans and a child keeps its parent's context: the cost is one object per step.
 */
export class Tracing {
  readonly #tracer: Tracer;

  constructor(service: string) {
    // the API's global provider (registered by startTelemetry or a test) is looked up lazily on each span
    this.#tracer = trace.getTracer(`airlock-${service}`);
  }

  /** Starts a span under `parent`: a new trace when `parent` is absent or fresh (no span recorded it yet). */
  start(name: string, parent: CallContext | undefined, options: StartOptions = {}): ActiveSpan {
    const root = !parent || parent.fresh === true;
    const parentContext = root ? ROOT_CONTEXT : w3c.extract(ROOT_CONTEXT, carrierOf(parent), defaultTextMapGetter);
    const span = this.#tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, root }, parentContext);
    const recording = span.isRecording();
    const requestId = parent?.requestId ?? randomUUID();
    let ctx: CallContext;
    if (!isSpanContextValid(span.spanContext())) {
      // tracing is off and this is a new trace: the hand-made context still correlates the hops
      ctx = parent ?? newContext(requestId);
    } else if (!recording && !root) {
      ctx = parent!;
    } else {
      const carrier: Record<string, string> = {};
      w3c.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
      ctx = { requestId, traceparent: carrier['traceparent']!, ...(carrier['tracestate'] ? { tracestate: carrier['tracestate'] } : {}) };
    }
    return new StepSpan(span, ctx, recording);
  }

  /** Runs `work` inside a span that ends when it settles. */
  async run<T>(name: string, parent: CallContext | undefined, options: StartOptions, work: (span: ActiveSpan) => Promise<T>): Promise<T> {
    const span = this.start(name, parent, options);
    try {
      const result = await work(span);
      span.end();
      return result;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  /** As run, for synchronous steps (parse, decide). */
  runSync<T>(name: string, parent: CallContext | undefined, options: StartOptions, work: (span: ActiveSpan) => T): T {
    const span = this.start(name, parent, options);
    try {
      const result = work(span);
      span.end();
      return result;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }
}

class StepSpan implements ActiveSpan {
  readonly ctx: CallContext;
  readonly recording: boolean;
  readonly #span: Span;
  #ended = false;

  constructor(span: Span, ctx: CallContext, recording: boolean) {
    this.#span = span;
    this.ctx = ctx;
    this.recording = recording;
  }

  set(attributes: Attributes): void {
    if (this.recording) this.#span.setAttributes(attributes);
  }

  end(err?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (err !== undefined && this.recording) {
      const code = err instanceof AirlockError ? err.code : 'runtime.internal';
      this.#span.setAttribute('airlock.error_code', code);
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    }
    this.#span.end();
  }
}

function carrierOf(ctx: CallContext): Record<string, string> {
  return ctx.tracestate ? { traceparent: ctx.traceparent, tracestate: ctx.tracestate } : { traceparent: ctx.traceparent };
}

/** Exporting is on when the standard variables ask for it; unset, nothing is loaded and nothing leaves the process. */
export function tracingRequested(env: Record<string, string | undefined>): boolean {
  if (/^true$/i.test(env['OTEL_SDK_DISABLED'] ?? '')) return false;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // as the SDK reads it: "none" first turns traces off
  if (exporters[0] === 'none') return false;
  return exporters.length > 0 || Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/** The process's trace exporter, when one runs. */
export interface Telemetry {
  readonly enabled: boolean;
  /** flushes pending spans and stops exporting */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK for this process when the OTEL_* variables ask for traces. The SDK reads those
 * variables (exporter, endpoint, protocol, headers, sampler, resource) from the process environment itself; Airlock
 * adds only the service name when OTEL_SERVICE_NAME is unset. It registers the API's global tracer provider (the one
 * piece of process-wide state, which the OpenTelemetry API requires), so start it once per process: `airlock run`
 * starts it for its service, `airlock up` once for all six. Metrics and logs stay with Prometheus and pino.
 */
export async function startTelemetry(options: { serviceName: string; env: Record<string, string | undefined>; logger: Logger }): Promise<Telemetry> {
  if (!tracingRequested(options.env)) return { enabled: false, shutdown: async () => undefined };
  // loaded only when wanted: the SDK and its exporters take a noticeable time to import
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(options.env['OTEL_SERVICE_NAME'] ? {} : { serviceName: options.serviceName }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  // the endpoint and headers are not logged: either may carry a credential for the collector
  options.logger.info({ exporter: options.env['OTEL_TRACES_EXPORTER'] ?? 'otlp' }, 'exporting traces');
  return {
    enabled: true,
    shutdown: async () => {
      await sdk.shutdown().catch((err: unknown) => options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'flushing traces failed'));
    },
  };
}
