import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  /** the development issuer's key file (demo mode only); generated in the state folder when unset */
  devIssuerKeyFile: { env: 'AIRLOCK_DEV_ISSUER_KEY_FILE', kind: 'string' },
  httpHost: { env: 'AIRLOCK_IDENTITY_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_IDENTITY_PORT', kind: 'integer', default: '8083', min: 0 },
} as const;

export type IdentityEnv = EnvValues<typeof fields>;

/** Pure: reads the identity service's variables from `env`, reporting every problem at once. */
export function loadConfig(env: Record<string, string | undefined>): IdentityEnv {
  return readEnv(env, fields);
}
