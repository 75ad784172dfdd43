export { startProxy, type ProxyDeps, type ProxyService } from './service.js';
export { loadConfig, type ProxyEnv } from './config.js';
export type { FrontDoor, HttpFrontDoorPlugin } from './frontends/http/server.js';
export { mcpFrontDoor, type McpSettings } from './frontends/mcp/index.js';
export { mcpSettings, snowflakeSettings } from './door-settings.js';
export type { Gateway, AccessRequest } from './core/gateway.js';
export { snowflakeFrontDoor, createSnowflakeFrontDoor, type SnowflakeFrontDoorOptions } from './frontends/snowflake/index.js';
export { Session, type ActiveStatement, type OpenHooks, type ProxyContext } from './core/session.js';
export { classify, type ClientError } from './core/errors.js';
