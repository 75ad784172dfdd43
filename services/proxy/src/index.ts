export { startProxy, type ProxyDeps, type ProxyService } from './service.js';
export { loadConfig, type ProxyEnv } from './config.js';
export type { FrontDoor, HttpFrontDoorPlugin } from './frontends/http/server.js';
export { mcpFrontDoor, type McpSettings } from './frontends/mcp/index.js';
export { mcpSettings, snowflakeSettings } from './door-settings.js';
export type { Gateway, AccessRequest } from './core/gateway.js';
export { snowflakeFrontDoor, createSnowflakeFrontDoor, type SnowflakeFrontDoorOptions } from './frontends/snowflake/index.js';
export { Session, type ActiveStatement, type OpenHooks, type ProxyContext } from './core/session.js';
export { classify, type ClientError } from './core/errors.js';

import type { ServiceDefinition } from '@airlock/runtime';
import { loadConfig as loadProxyConfig, type ProxyEnv } from './config.js';
import { startProxy as start } from './service.js';
import { mcpFrontDoor as mcp } from './frontends/mcp/index.js';
import { snowflakeFrontDoor as snowflake } from './frontends/snowflake/index.js';

/** The proxy: the data path behind the PostgreSQL, Snowflake and MCP front doors. */
export const service: ServiceDefinition<ProxyEnv> = {
  name: 'proxy',
  // it calls all of them on the data path; none is required to start (a test may leave one out)
  dependsOn: ['identity', 'policy', 'approval', 'credential', 'audit'],
  loadConfig: loadProxyConfig,
  start: async (host, settings) => {
    const { bus, config, logger, metrics, variables } = host;
    const svc = await start({ bus, config, logger, metrics, settings, env: { ...variables }, plugins: [mcp, snowflake] });
    return { ports: { pgwire: svc.pgwirePort, http: svc.httpPort }, close: svc.close };
  },
};
