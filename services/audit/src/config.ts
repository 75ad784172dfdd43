import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  /** its checkpoint signing keys (a JWK Set, the first signs), or the file that holds them */
  signingKeys: { env: 'AIRLOCK_AUDIT_SIGNING_KEYS', kind: 'string' },
  signingKeysFile: { env: 'AIRLOCK_AUDIT_SIGNING_KEYS_FILE', kind: 'string' },
  /** the chain's HMAC key (base64, at least 32 bytes), or the file that holds it */
  chainKey: { env: 'AIRLOCK_AUDIT_CHAIN_KEY', kind: 'string' },
  chainKeyFile: { env: 'AIRLOCK_AUDIT_CHAIN_KEY_FILE', kind: 'string' },
  httpHost: { env: 'AIRLOCK_AUDIT_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_AUDIT_PORT', kind: 'integer', default: '8082', min: 0 },
  readerGroups: { env: 'AIRLOCK_AUDIT_READER_GROUPS', kind: 'string', default: 'auditors' },
  /** events appended per transaction at most: bounds memory and lock time while catching up */
  batchSize: { env: 'AIRLOCK_AUDIT_BATCH_SIZE', kind: 'integer', default: '1000', min: 1 },
  /** false when an owner account applies the migrations and the service logs in as a writer-only user */
  migrate: { env: 'AIRLOCK_AUDIT_MIGRATE', kind: 'boolean', default: 'true' },
  /** how often the chain's head is signed and published outside the table */
  checkpointSeconds: { env: 'AIRLOCK_AUDIT_CHECKPOINT_SECONDS', kind: 'integer', default: '30', min: 1 },
  /** the file signed checkpoints are appended to (default: audit-checkpoints.jsonl in the state folder) */
  checkpointFile: { env: 'AIRLOCK_AUDIT_CHECKPOINT_FILE', kind: 'string' },
  forwardUrl: { env: 'AIRLOCK_AUDIT_FORWARD_URL', kind: 'url' },
  forwardAuthorization: { env: 'AIRLOCK_AUDIT_FORWARD_AUTHORIZATION', kind: 'string' },
  forwardTimeoutMs: { env: 'AIRLOCK_AUDIT_FORWARD_TIMEOUT_MS', kind: 'integer', default: '5000', min: 1 },
  forwardMaxBackoffMs: { env: 'AIRLOCK_AUDIT_FORWARD_MAX_BACKOFF_MS', kind: 'integer', default: '30000', min: 1 },
} as const;

export type AuditEnv = EnvValues<typeof fields>;

/** Pure: the audit service's variables. */
export function loadConfig(env: Record<string, string | undefined>): AuditEnv {
  return readEnv(env, fields);
}
