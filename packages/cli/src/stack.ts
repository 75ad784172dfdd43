import { loadConfigFile, demoConfigPath, type AirlockConfig } from '@airlock/config';
import { identityV1 } from '@airlock/contracts';
import { commonEnv, createLogger, newContext, readEnv, startHost, type Host, type Logger } from '@airlock/runtime';
import { startIdentity, loadConfig as identityEnv } from '@airlock/identity';
import { startPolicy } from '@airlock/policy';
import { startApproval, loadConfig as approvalEnv } from '@airlock/approval';
import { startCredential, loadConfig as credentialEnv } from '@airlock/credential';
import { startProxy, mcpFrontDoor, snowflakeFrontDoor, loadConfig as proxyEnv } from '@airlock/proxy';
import { startAudit, loadConfig as auditEnv } from '@airlock/audit';

export const serviceNames = ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy'] as const;
export type ServiceName = (typeof serviceNames)[number];

export interface RunningService {
  name: ServiceName;
  host: Host;
  /** ports this service listens on */
  ports: Record<string, number>;
  close(): Promise<void>;
}

/** Starts one service on its own host (its own NATS connection and database pool), as a separate process would. */
export async function startService(
  name: ServiceName,
  env: Record<string, string | undefined>,
  shared: { config?: AirlockConfig; logger?: Logger } = {},
): Promise<RunningService> {
  const host = await startHost({ service: name, env, ...shared });
  const { bus, config, logger, pool, lifecycle } = host;
  const ports: Record<string, number> = {};
  try {
    switch (name) {
      case 'identity': {
        const own = identityEnv(env);
        const svc = await startIdentity({ bus, pool, config, logger, http: { host: own.httpHost, port: own.httpPort } });
        if (svc.http) ports['identity'] = (svc.http.server.address() as { port: number }).port;
        lifecycle.add('identity', svc.close);
        break;
      }
      case 'policy': {
        const svc = await startPolicy({ bus, config, logger });
        lifecycle.add('policy', svc.close);
        break;
      }
      case 'approval': {
        const svc = await startApproval({ bus, pool, config, logger, settings: approvalEnv(env) });
        ports['approval'] = svc.port;
        lifecycle.add('approval', svc.close);
        break;
      }
      case 'credential': {
        const own = credentialEnv(env);
        const svc = await startCredential({ bus, pool, config, logger, settings: own, env });
        lifecycle.add('credential', svc.close);
        break;
      }
      case 'audit': {
        const own = auditEnv(env);
        const svc = await startAudit({
          bus,
          pool,
          logger,
          http: { host: own.httpHost, port: own.httpPort },
          readerGroups: own.readerGroups.split(',').map((g) => g.trim()).filter(Boolean),
          authenticate: async (token) => {
            const { principal } = await bus.call(identityV1.verifyToken, { token, frontend: 'http' }, newContext());
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
        const svc = await startProxy({ bus, config, logger, settings: own, env, plugins: [mcpFrontDoor, snowflakeFrontDoor] });
        ports['pgwire'] = svc.pgwirePort;
        ports['http'] = svc.httpPort;
        lifecycle.add('proxy', svc.close);
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

/** All six services in one process, each with its own bus connection, over the real NATS and PostgreSQL. */
export async function startStack(env: Record<string, string | undefined>, options: { logger?: Logger; names?: readonly ServiceName[] } = {}): Promise<Stack> {
  const common = readEnv(env, commonEnv);
  const config = loadConfigFile(common.configPath ?? demoConfigPath);
  const logger = options.logger ?? createLogger({ service: 'airlock', level: common.logLevel });
  const services: RunningService[] = [];
  const close = async () => {
    // the data path first, so its sessions revoke their leases while the credential service still runs
    for (const s of [...services].reverse()) await s.close();
  };
  try {
    for (const name of options.names ?? serviceNames) services.push(await startService(name, env, { config, logger }));
  } catch (err) {
    await close();
    throw err;
  }
  const ports = Object.assign({}, ...services.map((s) => s.ports)) as Record<string, number>;
  return { services, ports, config, close };
}
