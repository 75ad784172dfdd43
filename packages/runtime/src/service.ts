import { loadConfigFile, type AirlockConfig } from '@airlock/config';
import { ConfigError, commonEnv, readEnv } from './env.js';
import { startHost, type Host } from './host.js';
import { Lifecycle, closeOnSignals } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { Telemetry } from './telemetry.js';

/** What a started service hands back: the ports it listens on (`<name>Metrics` included) and how to stop it. */
export interface StartedService {
  ports: Record<string, number>;
  close(): Promise<void>;
}

/** The services already started in the same process, and where they listen: how `airlock up` wires one to another. */
export interface Neighbours {
  readonly ports: Readonly<Record<string, number>>;
}

/**
 * Every service exports one of these from its `index.ts`. The same definition runs the service alone (its `main.ts`,
 * `airlock run <name>`), in one process with the others (`airlock up`) and in tests (`@airlock/testkit`).
 */
export interface ServiceDefinition<Settings = unknown> {
  /** the service's name: its NATS user, queue group (`airlock-<name>`), logger and metrics label */
  readonly name: string;
  /**
   * services whose APIs this one uses while it starts or serves: started first when they run in the same process.
   * Not a requirement: a split deployment runs them elsewhere, and a test may leave one out.
   */
  readonly dependsOn: readonly string[];
  /** Pure: the service's own variables from `env`, every problem reported at once. */
  loadConfig(env: Record<string, string | undefined>): Settings;
  /** Wires the service on a started host (bus, pool, config, logger, metrics); the host closes after it. */
  start(host: Host, settings: Settings, neighbours: Neighbours): Promise<StartedService>;
}

export interface RunningService {
  name: string;
  host: Host;
  /** ports this service listens on; `<name>Metrics` is its /metrics port */
  ports: Record<string, number>;
  close(): Promise<void>;
}

export interface SharedProcess {
  config: AirlockConfig;
  logger?: Logger;
  /** the process's trace exporter, when one is started for several services */
  telemetry?: Telemetry;
  neighbours?: Neighbours;
}

/** Starts one service on its own host (its own NATS connection and database pool), as a separate process would. */
export async function startService<S>(definition: ServiceDefinition<S>, env: Record<string, string | undefined>, shared: SharedProcess): Promise<RunningService> {
  const settings = definition.loadConfig(env);
  const host = await startHost({ service: definition.name, env, ...shared });
  let started: StartedService;
  try {
    started = await definition.start(host, settings, shared.neighbours ?? { ports: {} });
  } catch (err) {
    await host.lifecycle.close(host.logger);
    throw err;
  }
  host.lifecycle.add(definition.name, started.close);
  const ports = { [`${definition.name}Metrics`]: host.metricsPort, ...started.ports };
  return { name: definition.name, host, ports, close: () => host.lifecycle.close(host.logger) };
}

/** The definitions in start order: each after those it depends on among them, otherwise in the order given. */
export function startOrder<D extends ServiceDefinition>(definitions: readonly D[]): D[] {
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const ordered: D[] = [];
  const visiting = new Set<string>();
  const visit = (d: D): void => {
    if (ordered.includes(d)) return;
    if (visiting.has(d.name)) throw new Error(`services depend on each other in a circle through ${d.name}`);
    visiting.add(d.name);
    for (const dep of d.dependsOn) {
      const other = byName.get(dep);
      if (other) visit(other);
    }
    visiting.delete(d.name);
    ordered.push(d);
  };
  for (const d of definitions) visit(d);
  return ordered;
}

/**
 * With `AIRLOCK_NATS_<SERVICE>_PASSWORD` set (the variables `deploy/nats` reads), each service connects as its own
 * least-privilege NATS user even when they all run in one process.
 */
function ownNatsUser(name: string, env: Record<string, string | undefined>): Record<string, string | undefined> {
  const password = env[`AIRLOCK_NATS_${name.toUpperCase()}_PASSWORD`];
  return password ? { ...env, AIRLOCK_NATS_USER: name, AIRLOCK_NATS_PASSWORD: password } : env;
}

export interface StartedServices {
  services: RunningService[];
  /** every service's ports, merged */
  ports: Record<string, number>;
  close(): Promise<void>;
}

/** Several services in one process, each on its own host, started in dependency order and closed in reverse. */
export async function startServices(
  definitions: readonly ServiceDefinition[],
  env: Record<string, string | undefined>,
  shared: Omit<SharedProcess, 'neighbours'>,
): Promise<StartedServices> {
  // one port cannot serve several registries: each service keeps its own default (or an ephemeral port with 0)
  const serviceEnv = env['AIRLOCK_METRICS_PORT'] && env['AIRLOCK_METRICS_PORT'] !== '0' ? { ...env, AIRLOCK_METRICS_PORT: undefined } : env;
  const services: RunningService[] = [];
  const ports: Record<string, number> = {};
  const close = async () => {
    // the data path first, so its sessions revoke their leases while the credential service still runs
    for (const s of [...services].reverse()) await s.close();
  };
  try {
    for (const definition of startOrder(definitions)) {
      const running = await startService(definition, ownNatsUser(definition.name, serviceEnv), { ...shared, neighbours: { ports: { ...ports } } });
      services.push(running);
      Object.assign(ports, running.ports);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { services, ports, close };
}

/** The config file `AIRLOCK_CONFIG` names; there is no default (only `airlock up` in demo mode picks the demo's). */
export function loadConfigFromEnv(env: Record<string, string | undefined>): AirlockConfig {
  const { configPath } = readEnv(env, commonEnv);
  if (!configPath) {
    throw new ConfigError([
      'AIRLOCK_CONFIG is required: set it to your config file (deploy/config/ has examples). The demo config runs only under `airlock up` in a checkout',
    ]);
  }
  return loadConfigFile(configPath);
}

/**
 * One service alone in this process, until SIGINT/SIGTERM: what each service's `main.ts` and `airlock run <name>` do.
 * Logs `<name> service running` with its ports once it serves.
 */
export async function runAlone<S>(definition: ServiceDefinition<S>, env: Record<string, string | undefined>, proc: NodeJS.Process = process): Promise<RunningService> {
  const svc = await startService(definition, env, { config: loadConfigFromEnv(env) });
  const lifecycle = new Lifecycle();
  lifecycle.add(definition.name, svc.close);
  closeOnSignals(lifecycle, svc.host.logger, proc);
  svc.host.logger.info({ ports: svc.ports }, `${definition.name} service running`);
  return svc;
}
