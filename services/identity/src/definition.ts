import type { ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type IdentityEnv } from './config.js';
import { startIdentity } from './service.js';

/** The identity service: verifies bearer tokens (OIDC, SAML) for every front door and API. */
export const service: ServiceDefinition<IdentityEnv> = {
  name: 'identity',
  dependsOn: [],
  loadConfig,
  start: async (host, settings) => {
    const { bus, pool, config, logger, metrics, variables } = host;
    const svc = await startIdentity({ bus, pool, config, logger, metrics, env: { ...variables }, http: { host: settings.httpHost, port: settings.httpPort } });
    const ports: Record<string, number> = svc.http ? { identity: (svc.http.server.address() as { port: number }).port } : {};
    return { ports, close: svc.close };
  },
};
