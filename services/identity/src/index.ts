export { service } from './definition.js';
export { startIdentity, type IdentityDeps, type IdentityService } from './service.js';
export { loadConfig, type IdentityEnv } from './config.js';
export { TokenVerifier } from './verifier.js';
export { SamlVerifier, looksLikeSaml, certificatesFromMetadata, samlMigrations } from './saml.js';
export { mintDevToken, devIssuerSettings, defaultDevIssuer, devTokenMaxTtlSeconds, type DevTokenOptions } from './dev-issuer.js';
export { loadOrCreateDevKey, migrateIdentity, type DevKey } from './store/dev-keys.js';
