export { service } from './definition.js';
export { startCredential, rolePrefix, type CredentialDeps, type CredentialService } from './service.js';
export { loadConfig, type CredentialEnv } from './config.js';
export type { CredentialEngine, MintInput } from './engines/engine.js';
export { PostgresEngine, resolveUpstreamTls, type UpstreamTls } from './engines/postgres.js';
export { migrateLeases } from './store/leases.js';
export { migrateOAuthKeys } from './store/oauth-keys.js';
export { SnowflakeEngine } from './engines/snowflake.js';
