import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  /** its decision signing keys (a JWK Set, the first signs), or the file that holds them; generated in the state folder when neither */
  signingKeys: { env: 'AIRLOCK_POLICY_SIGNING_KEYS', kind: 'string' },
  signingKeysFile: { env: 'AIRLOCK_POLICY_SIGNING_KEYS_FILE', kind: 'string' },
} as const;

export type PolicyEnv = EnvValues<typeof fields>;

/** Pure: the policy service's variables. */
export function loadConfig(env: Record<string, string | undefined>): PolicyEnv {
  return readEnv(env, fields);
}
