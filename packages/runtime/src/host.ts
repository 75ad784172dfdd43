import pg from 'pg';
import type { AirlockConfig } from '@airlock/config';
import { Bus } from './bus.js';
import { commonEnv, readEnv, type EnvValues } from './env.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { ensureDatabase } from './database.js';
import { createMetricsRegistry, serveServiceMetrics, type MetricsServer, type Registry } from './metrics.js';
import { startTelemetry, type Telemetry } from './telemetry.js';

export type CommonEnv = EnvValues<typeof commonEnv>;

/** What every service process needs before its own wiring: config, logger, bus, database pool, lifecycle. */
export interface Host {
  env: CommonEnv;
  /** the whole environment the host was started with: a service reads its own variables and `${VAR}` references from it */
  variables: Readonly<Record<string, string | undefined>>;
  config: AirlockConfig;
  logger: Logger;
  bus: Bus;
  pool: pg.Pool;
  lifecycle: Lifecycle;
  /** the service's Prometheus registry, served at /metrics */
  metrics: Registry;
  /** the port /metrics listens on */
  metricsPort: number;
}

export interface HostOptions {
  service: string;
  env: Record<string, string | undefined>;
  /**
   * the loaded config: the caller chose the file (`AIRLOCK_CONFIG`, or the demo's under `airlock up` in demo mode);
   * the host never picks one by itself
   */
  config: AirlockConfig;
  logger?: Logger;
  poolSize?: number;
  /**
   * the process's trace exporter when the caller started it (airlock up starts one for all services); absent, the
   * host starts one for this service from the OTEL_* variables and stops it on close
   */
  telemetry?: Telemetry;
}

export async function startHost(options: HostOptions): Promise<Host> {
  const env = readEnv(options.env, commonEnv);
  const logger = options.logger?.child({ service: options.service }) ?? createLogger({ service: options.service, level: env.logLevel });
  const { config } = options;
  const lifecycle = new Lifecycle();
  if (!options.telemetry) {
    const telemetry = await startTelemetry({ serviceName: `airlock-${options.service}`, env: options.env, logger });
    // added first so it closes last, after every span of the shutdown has ended
    lifecycle.add('telemetry', () => telemetry.shutdown());
  }
  const metrics = createMetricsRegistry();
  await ensureDatabase(env.databaseUrl);
  const pool = new pg.Pool({ connectionString: env.databaseUrl, max: options.poolSize ?? 10, application_name: `airlock-${options.service}` });
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle database connection failed'));
  lifecycle.add('pool', () => pool.end());
  const bus = await Bus.connect({
    url: env.natsUrl,
    root: env.subjectRoot,
    service: options.service,
    logger,
    ...(env.natsUser ? { user: env.natsUser, pass: env.natsPassword ?? '' } : {}),
    eventRetentionSeconds: env.eventRetentionSeconds,
    metrics,
  });
  lifecycle.add('bus', () => bus.close());
  let metricsServer: MetricsServer;
  try {
    metricsServer = await serveServiceMetrics({ service: options.service, registry: metrics, env: options.env, logger });
  } catch (err) {
    await lifecycle.close(logger);
    throw err;
  }
  lifecycle.add('metrics', () => metricsServer.close());
  return { env, variables: options.env, config, logger, bus, pool, lifecycle, metrics, metricsPort: metricsServer.port };
}
