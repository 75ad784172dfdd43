export { startProxy, type ProxyDeps, type ProxyService } from './service.js';
export { loadConfig, type ProxyEnv } from './config.js';
export type { FrontDoor, HttpFrontDoorPlugin } from './frontends/http/server.js';
export { Session, type ActiveStatement, type OpenHooks, type ProxyContext } from './core/session.js';
export { classify, type ClientError } from './core/errors.js';
