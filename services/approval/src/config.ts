import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  /** its grant signing keys (a JWK Set, the first signs), or the file that holds them; generated in the state folder when neither */
  signingKeys: { env: 'AIRLOCK_APPROVAL_SIGNING_KEYS', kind: 'string' },
  signingKeysFile: { env: 'AIRLOCK_APPROVAL_SIGNING_KEYS_FILE', kind: 'string' },
  httpHost: { env: 'AIRLOCK_APPROVAL_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_APPROVAL_PORT', kind: 'integer', default: '8081', min: 0 },
  /** the API address approvers reach (behind a proxy or a load balancer), used in the links of messages */
  publicUrl: { env: 'AIRLOCK_APPROVAL_PUBLIC_URL', kind: 'url' },
  /** how often the expiry sweep and the outbox run, in milliseconds */
  sweepMs: { env: 'AIRLOCK_APPROVAL_SWEEP_MS', kind: 'integer', default: '1000', min: 50 },
  deliveryAttempts: { env: 'AIRLOCK_APPROVAL_DELIVERY_ATTEMPTS', kind: 'integer', default: '8', min: 1 },
  deliveryBackoffMs: { env: 'AIRLOCK_APPROVAL_DELIVERY_BACKOFF_MS', kind: 'integer', default: '2000', min: 10 },
  deliveryMaxBackoffMs: { env: 'AIRLOCK_APPROVAL_DELIVERY_MAX_BACKOFF_MS', kind: 'integer', default: '600000', min: 10 },
  deliveryTimeoutMs: { env: 'AIRLOCK_APPROVAL_DELIVERY_TIMEOUT_MS', kind: 'integer', default: '5000', min: 100 },
} as const;

export type ApprovalEnv = EnvValues<typeof fields>;

/** Pure: the approval service's variables, every problem reported at once. */
export function loadConfig(env: Record<string, string | undefined>): ApprovalEnv {
  return readEnv(env, fields);
}
