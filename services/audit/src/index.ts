export { startAudit, type AuditDeps, type AuditService } from './service.js';
export { loadConfig, type AuditEnv } from './config.js';
export { AuditStore, writerRole, type AuditRow, type EventFilter, type VerifyResult } from './store/events.js';
export { SessionStore, type SessionFilter } from './store/sessions.js';
export { buildSession, SessionSummary, SessionDetail, StatementRecord } from './sessions.js';
export { formatTranscript } from './transcript.js';
export { toOcsf, type OcsfEvent } from './ocsf.js';
export { startForwarder, type Forwarder, type ForwarderSettings } from './forwarder.js';
export { canonicalJson, chainHash, genesisHash } from './canonical.js';
