import type { ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type ConsoleEnv } from './config.js';
import { startConsole } from './service.js';

/** Where an API listens when it runs in this process, else its default address. */
function upstream(configured: string | undefined, port: number | undefined, fallback: string): string {
  return configured ?? (port === undefined ? fallback : `http://127.0.0.1:${port}`);
}

/** The web console; serves nothing unless the config file has a console section. */
export const service: ServiceDefinition<ConsoleEnv> = {
  name: 'console',
  // it calls the approval and audit APIs (where they listen in the same process) and credential over the bus
  dependsOn: ['identity', 'approval', 'credential', 'audit'],
  loadConfig,
  start: async (host, settings, neighbours) => {
    const { bus, pool, config, logger, variables } = host;
    const svc = await startConsole({
      bus,
      pool,
      config,
      logger,
      env: { ...variables },
      settings: {
        ...settings,
        approvalUrl: upstream(settings.approvalUrl, neighbours.ports['approval'], 'http://127.0.0.1:8081'),
        auditUrl: upstream(settings.auditUrl, neighbours.ports['audit'], 'http://127.0.0.1:8082'),
      },
    });
    const ports: Record<string, number> = svc.port === undefined ? {} : { console: svc.port };
    return { ports, close: svc.close };
  },
};
