import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  /** the External-OAuth signing key file (a private and a public JWK); generated in the state folder when unset */
  snowflakeOAuthKeyFile: { env: 'AIRLOCK_SNOWFLAKE_OAUTH_KEY_FILE', kind: 'string' },
  sweepSeconds: { env: 'AIRLOCK_CREDENTIAL_SWEEP_SECONDS', kind: 'integer', default: '5', min: 1 },
  heartbeatGraceSeconds: { env: 'AIRLOCK_HEARTBEAT_GRACE_SECONDS', kind: 'integer', default: '15', min: 1 },
  /** a lease still `pending` this long after it was recorded was abandoned by a copy that died while minting */
  pendingGraceSeconds: { env: 'AIRLOCK_CREDENTIAL_PENDING_GRACE_SECONDS', kind: 'integer', default: '60', min: 5 },
  irrevocableAfter: { env: 'AIRLOCK_REVOKE_ATTEMPTS_BEFORE_ALERT', kind: 'integer', default: '5', min: 1 },
  httpHost: { env: 'AIRLOCK_CREDENTIAL_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_CREDENTIAL_PORT', kind: 'integer', default: '8084', min: 0 },
  /**
   * Test-only fault injection: when `1`, the process kills itself right after a credential exists upstream and
   * before its lease becomes active, to prove that reconciliation removes such orphans. Never set it in production.
   */
} as const;

export type CredentialEnv = EnvValues<typeof fields>;

/** Pure: the credential service's variables. Admin secrets are not here: they come from the config file's `${VAR}` references. */
export function loadConfig(env: Record<string, string | undefined>): CredentialEnv {
  return readEnv(env, fields);
}
