import type { AirlockConfig } from '@airlock/config';
import { commonEnv, createLogger, loadConfigFromEnv, readEnv, startServices, startTelemetry, type Logger, type RunningService, type ServiceDefinition } from '@airlock/runtime';
import { allServices, servicesNamed, type ServiceName } from './registry.js';

export interface Stack {
  services: RunningService[];
  ports: Record<string, number>;
  config: AirlockConfig;
  close(): Promise<void>;
}

export interface StackOptions {
  logger?: Logger;
  /** the services to start, by name (default: all of them) */
  names?: readonly ServiceName[];
  /** the services to start, by definition (instead of `names`) */
  services?: readonly ServiceDefinition[];
  /** the loaded config; default: the file AIRLOCK_CONFIG names (there is no fallback to the demo's) */
  config?: AirlockConfig;
}

/** Services in one process, each with its own bus connection and pool, over the real NATS and PostgreSQL. */
export async function startStack(env: Record<string, string | undefined>, options: StackOptions = {}): Promise<Stack> {
  const common = readEnv(env, commonEnv);
  const config = options.config ?? loadConfigFromEnv(env);
  const logger = options.logger ?? createLogger({ service: 'airlock', level: common.logLevel });
  // one trace exporter for the process: the OpenTelemetry API has one global tracer provider
  const telemetry = await startTelemetry({ serviceName: 'airlock', env, logger });
  const definitions = options.services ?? (options.names ? servicesNamed(options.names) : allServices);
  let started;
  try {
    started = await startServices(definitions, env, { config, logger, telemetry });
  } catch (err) {
    await telemetry.shutdown();
    throw err;
  }
  return {
    services: started.services,
    ports: started.ports,
    config,
    close: async () => {
      await started.close();
      await telemetry.shutdown();
    },
  };
}
