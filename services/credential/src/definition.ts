import type { ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type CredentialEnv } from './config.js';
import { startCredential } from './service.js';

/** The credential service: mints, records and revokes leases; the only holder of each connection's admin principal. */
export const service: ServiceDefinition<CredentialEnv> = {
  name: 'credential',
  dependsOn: [],
  loadConfig,
  start: async (host, settings) => {
    const { bus, pool, config, logger, metrics, variables } = host;
    const svc = await startCredential({ bus, pool, config, logger, metrics, settings, env: { ...variables } });
    return { ports: {}, close: svc.close };
  },
};
