import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { readEnv, type EnvField } from './env.js';
import type { Logger } from './logger.js';

// services build their metrics from these, so prom-client is a dependency of the runtime alone
export { Counter, Gauge, Histogram, Registry };

/** Where each service serves `/metrics` when AIRLOCK_METRICS_PORT is not given: one port per service, so all six fit on one host. */
export const defaultMetricsPorts: Readonly<Record<string, number>> = Object.freeze({
  identity: 9101,
  policy: 9102,
  approval: 9103,
  credential: 9104,
  audit: 9105,
  proxy: 9106,
  console: 9107,
});

/** The variables of the metrics endpoint; the port's default depends on the service (see defaultMetricsPorts). */
export const metricsEnv = {
  metricsHost: { env: 'AIRLOCK_METRICS_HOST', kind: 'string', default: '127.0.0.1' },
  metricsPort: { env: 'AIRLOCK_METRICS_PORT', kind: 'integer', min: 0 },
} as const satisfies Record<string, EnvField>;

/** Latency buckets in seconds: sub-millisecond policy decisions up to slow upstream statements. */
export const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

/**
 * A registry for one service: its own metrics plus the process's (CPU, memory, event loop, GC). Each service owns
 * one, never prom-client's global registry, so services sharing a process (`airlock up`, tests) stay apart.
 */
export function createMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format on its own small HTTP server, apart from any client-facing port. */
export async function serveMetrics(options: { registry: Registry; host: string; port: number; logger: Logger }): Promise<MetricsServer> {
  const { registry, logger } = options;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are served at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Serves a service's metrics at AIRLOCK_METRICS_PORT (0 = ephemeral), else at the service's default port. A default
 * port that is taken (a second copy on the same host, test stacks side by side) falls back to an ephemeral port,
 * logged with the service's ports; a port set explicitly must be free.
 */
export async function serveServiceMetrics(options: {
  service: string;
  registry: Registry;
  env: Record<string, string | undefined>;
  logger: Logger;
}): Promise<MetricsServer> {
  const own = readEnv(options.env, metricsEnv);
  const base = { registry: options.registry, host: own.metricsHost, logger: options.logger };
  if (own.metricsPort !== undefined) return serveMetrics({ ...base, port: own.metricsPort });
  const port = defaultMetricsPorts[options.service] ?? 0;
  try {
    return await serveMetrics({ ...base, port });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    const server = await serveMetrics({ ...base, port: 0 });
    options.logger.warn({ defaultPort: port, port: server.port }, 'the default metrics port is taken; serving /metrics on another port');
    return server;
  }
}
