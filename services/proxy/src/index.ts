export { startProxy, type ProxyDeps, type ProxyService } from './service.js';
export { loadConfig, type ProxyEnv } from './config.js';
