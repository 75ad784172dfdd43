import pg from 'pg';
import { demoConfigPath, loadConfigFile, type AirlockConfig } from '@airlock/config';
import { Bus } from './bus.js';
import { commonEnv, readEnv, type EnvValues } from './env.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { ensureDatabase } from './database.js';

export type CommonEnv = EnvValues<typeof commonEnv>;

/** What every service process needs before its own wiring: config, logger, bus, database pool, lifecycle. */
export interface Host {
  env: CommonEnv;
  config: AirlockConfig;
  logger: Logger;
  bus: Bus;
  pool: pg.Pool;
  lifecycle: Lifecycle;
}

export interface HostOptions {
  service: string;
  env: Record<string, string | undefined>;
  /** an already-loaded config (airlock up loads it once for all services) */
  config?: AirlockConfig;
  logger?: Logger;
  poolSize?: number;
}

export async function startHost(options: HostOptions): Promise<Host> {
  const env = readEnv(options.env, commonEnv);
  const logger = options.logger?.child({ service: options.service }) ?? createLogger({ service: options.service, level: env.logLevel });
  const config = options.config ?? loadConfigFile(env.configPath ?? demoConfigPath);
  const lifecycle = new Lifecycle();
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
  });
  lifecycle.add('bus', () => bus.close());
  return { env, config, logger, bus, pool, lifecycle };
}
