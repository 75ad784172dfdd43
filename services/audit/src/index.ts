export { startAudit, type AuditDeps, type AuditService } from './service.js';
export { loadConfig, type AuditEnv } from './config.js';
export { AuditStore } from './store/events.js';
export { canonicalJson, chainHash, genesisHash } from './canonical.js';
