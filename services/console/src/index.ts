export { service } from './definition.js';
export { startConsole, type ConsoleDeps, type ConsoleService, type ConsoleSettings } from './service.js';
export { loadConfig, type ConsoleEnv } from './config.js';
export { highlightSql } from './highlight.js';
export { html, escape, raw, Html } from './html.js';
export { Secrets, parseCookies, serializeCookie } from './crypto.js';
export { migrateConsole } from './store/migrations.js';
