export { AirlockError, toEnvelope } from './errors.js';
export { createLogger, redactedKeys, type Logger, type LoggerOptions } from './logger.js';
export { newContext, newTraceparent, traceIdOf, isTraceparent, type CallContext } from './context.js';
export { Validator, encodeJson, decodeJson } from './codec.js';
export { Bus, streamName, contextFrom, contextHeaders, type BusOptions, type Handler, type ConsumedEvent, type EventInput, type OutgoingEvent } from './bus.js';
export { readEnv, commonEnv, ConfigError, type EnvField, type EnvValues } from './env.js';
export { createHttpServer, type HttpServerOptions } from './http.js';
export { TlsFiles, httpDoorTls } from './tls-files.js';
export { Lifecycle, closeOnSignals } from './lifecycle.js';
export { ensureDatabase, migrate, type Migration } from './database.js';
export { startHost, type Host, type HostOptions, type CommonEnv } from './host.js';
export { Tracing, SpanKind, startTelemetry, tracingRequested, type ActiveSpan, type StartOptions, type Telemetry, type Attributes } from './telemetry.js';
export {
  Counter,
  Gauge,
  Histogram,
  Registry,
  createMetricsRegistry,
  serveMetrics,
  serveServiceMetrics,
  defaultMetricsPorts,
  metricsEnv,
  latencyBuckets,
  type MetricsServer,
} from './metrics.js';
export { EventPublisher, type Emitted } from './events.js';
export { Signer, TrustedKeys, canonicalJson, demoMode, digest, keyFile, loadSecret, signingKeyVariables, stateDir, tokenKinds, type KeySource } from './signing.js';
export {
  loadConfigFromEnv,
  runAlone,
  startOrder,
  startService,
  startServices,
  type Neighbours,
  type RunningService,
  type ServiceDefinition,
  type SharedProcess,
  type StartedService,
  type StartedServices,
} from './service.js';
