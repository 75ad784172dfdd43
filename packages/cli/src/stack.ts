import { join } from 'node:path';
import { loadConfigFile, demoConfigPath, type AirlockConfig } from '@airlock/config';
import { identityV1 } from '@airlock/contracts';
import { Signer, commonEnv, demoMode, loadSecret, stateDir, createLogger, newContext, readEnv, startHost, startTelemetry, tokenKinds, type Host, type Logger, type Telemetry } from '@airlock/runtime';
import { startIdentity, loadConfig as identityEnv } from '@airlock/identity';
import { startPolicy } from '@airlock/policy';
import { startApproval, loadConfig as approvalEnv } from '@airlock/approval';
import { startCredential, loadConfig as credentialEnv } from '@airlock/credential';
import { startProxy, mcpFrontDoor, snowflakeFrontDoor, loadConfig as proxyEnv } from '@airlock/proxy';
import { startAudit, loadConfig as auditEnv } from '@airlock/audit';
import { startConsole, loadConfig as consoleEnv } from '@airlock/console';

export const serviceNames = ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy', 'console'] as const;
export type ServiceName = (typeof serviceNames)[number];

export interface RunningService {
  name: ServiceName;
  host: Host;
  /** ports this service listens on; `<name>Metrics` is its /metrics port */
  ports: Record<string, number>;
  close(): Promise<void>;
}

/** Starts one service on its own host (its own NATS connection and database pool), as a separate process would. */
export async function startService(
  name: ServiceName,
  env: Record<string, string | undefined>,
  shared: { config?: AirlockConfig; logger?: Logger; telemetry?: Telemetry } = {},
): Promise<RunningService> {
  const host = await startHost({ service: name, env, ...shared });
  const { bus, config, logger, pool, lifecycle, metrics } = host;
  const ports: Record<string, number> = { [`${name}Metrics`]: host.metricsPort };
  try {
    switch (name) {
      case 'identity': {
        const own = identityEnv(env);
        const svc = await startIdentity({ bus, pool, config, logger, metrics, env, http: { host: own.httpHost, port: own.httpPort } });
        if (svc.http) ports['identity'] = (svc.http.server.address() as { port: number }).port;
        lifecycle.add('identity', svc.close);
        break;
      }
      case 'policy': {
        const signer = await Signer.load({ service: 'policy', env, logger }, tokenKinds.decision);
        const svc = await startPolicy({ bus, config, logger, metrics, signer });
        lifecycle.add('policy', svc.close);
        break;
      }
      case 'approval': {
        const signer = await Signer.load({ service: 'approval', env, logger }, tokenKinds.grant);
        const svc = await startApproval({ bus, pool, config, logger, metrics, settings: approvalEnv(env), signer });
        ports['approval'] = svc.port;
        lifecycle.add('approval', svc.close);
        break;
      }
      case 'credential': {
        const own = credentialEnv(env);
        const svc = await startCredential({ bus, pool, config, logger, metrics, settings: own, env });
        lifecycle.add('credential', svc.close);
        break;
      }
      case 'audit': {
        const own = auditEnv(env);
        const signer = await Signer.load({ service: 'audit', env, logger }, tokenKinds.checkpoint);
        const svc = await startAudit({
          chainKey: loadSecret('audit-chain-key', env, logger),
          signer,
          checkpoint: { file: own.checkpointFile ?? join(stateDir(env), 'audit-checkpoints.jsonl'), seconds: own.checkpointSeconds },
          bus,
          pool,
          logger,
          metrics,
          http: { host: own.httpHost, port: own.httpPort, tls: config.http?.tls, allowInsecureNonLoopback: config.http?.allowInsecureNonLoopback },
          readerGroups: own.readerGroups.split(',').map((g) => g.trim()).filter(Boolean),
          authenticate: async (token) => {
            // the audit API's own audience: a token made for a database door or another API is refused here
            const { principal } = await bus.call(identityV1.verifyToken, { token, frontend: 'http', door: 'audit' }, newContext());
            return principal;
          },
          batchSize: own.batchSize,
          migrate: own.migrate,
          ...(own.forwardUrl
            ? {
                forward: {
                  url: own.forwardUrl,
                  timeoutMs: own.forwardTimeoutMs,
                  maxBackoffMs: own.forwardMaxBackoffMs,
                  ...(own.forwardAuthorization ? { authorization: own.forwardAuthorization } : {}),
                },
              }
            : {}),
        });
        ports['audit'] = svc.port;
        lifecycle.add('audit', svc.close);
        break;
      }
      case 'proxy': {
        const own = proxyEnv(env);
        const svc = await startProxy({ bus, config, logger, metrics, settings: own, env, plugins: [mcpFrontDoor, snowflakeFrontDoor] });
        ports['pgwire'] = svc.pgwirePort;
        ports['http'] = svc.httpPort;
        lifecycle.add('proxy', svc.close);
        break;
      }
      case 'console': {
        // serves nothing unless the config file has a console section
        const svc = await startConsole({ bus, pool, config, logger, settings: consoleEnv(env), env });
        if (svc.port !== undefined) ports['console'] = svc.port;
        lifecycle.add('console', svc.close);
        break;
      }
    }
  } catch (err) {
    await lifecycle.close(logger);
    throw err;
  }
  return { name, host, ports, close: () => lifecycle.close(logger) };
}

export interface Stack {
  services: RunningService[];
  ports: Record<string, number>;
  config: AirlockConfig;
  close(): Promise<void>;
}

/**
 * With `AIRLOCK_NATS_<SERVICE>_PASSWORD` set (the variables `deploy/nats` reads), each service connects as its own
 * least-privilege NATS user even when they all run in one process.
 */
function ownNatsUser(name: ServiceName, env: Record<string, string | undefined>): Record<string, string | undefined> {
  const password = env[`AIRLOCK_NATS_${name.toUpperCase()}_PASSWORD`];
  return password ? { ...env, AIRLOCK_NATS_USER: name, AIRLOCK_NATS_PASSWORD: password } : env;
}

/**
 * In one process the console calls the approval and audit APIs where they listen, unless
 * `AIRLOCK_CONSOLE_APPROVAL_URL` / `AIRLOCK_CONSOLE_AUDIT_URL` say otherwise.
 */
function consoleUpstreams(env: Record<string, string | undefined>, started: readonly RunningService[]): Record<string, string | undefined> {
  const url = (door: string) => {
    const port = started.find((s) => s.ports[door] !== undefined)?.ports[door];
    return port === undefined ? undefined : `http://127.0.0.1:${port}`;
  };
  return {
    ...env,
    AIRLOCK_CONSOLE_APPROVAL_URL: env['AIRLOCK_CONSOLE_APPROVAL_URL'] || url('approval'),
    AIRLOCK_CONSOLE_AUDIT_URL: env['AIRLOCK_CONSOLE_AUDIT_URL'] || url('audit'),
  };
}

/** All six services in one process, each with its own bus connection, over the real NATS and PostgreSQL. */
export async function startStack(
  env: Record<string, string | undefined>,
  options: { logger?: Logger; names?: readonly ServiceName[]; /** instead of the config file's contents */ config?: AirlockConfig } = {},
): Promise<Stack> {
  const common = readEnv(env, commonEnv);
  if (!common.configPath && !demoMode(env)) {
    throw new Error('AIRLOCK_CONFIG is required: set it to your config file; the demo config runs only under `airlock up` in demo mode');
  }
  const config = options.config ?? loadConfigFile(common.configPath ?? demoConfigPath);
  const logger = options.logger ?? createLogger({ service: 'airlock', level: common.logLevel });
  // one trace exporter for the process: the OpenTelemetry API has one global tracer provider
  const telemetry = await startTelemetry({ serviceName: 'airlock', env, logger });
  // one port cannot serve six registries: each service keeps its own default (or an ephemeral port with 0)
  const serviceEnv = env['AIRLOCK_METRICS_PORT'] && env['AIRLOCK_METRICS_PORT'] !== '0' ? { ...env, AIRLOCK_METRICS_PORT: undefined } : env;
  const services: RunningService[] = [];
  const close = async () => {
    // the data path first, so its sessions revoke their leases while the credential service still runs
    for (const s of [...services].reverse()) await s.close();
    await telemetry.shutdown();
  };
  try {
    for (const name of options.names ?? serviceNames) {
      const own = name === 'console' ? consoleUpstreams(serviceEnv, services) : serviceEnv;
      services.push(await startService(name, ownNatsUser(name, own), { config, logger, telemetry }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  const ports = Object.assign({}, ...services.map((s) => s.ports)) as Record<string, number>;
  return { services, ports, config, close };
}
