import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  httpHost: { env: 'AIRLOCK_AUDIT_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_AUDIT_PORT', kind: 'integer', default: '8082', min: 0 },
  readerGroups: { env: 'AIRLOCK_AUDIT_READER_GROUPS', kind: 'string', default: 'auditors' },
} as const;

export type AuditEnv = EnvValues<typeof fields>;

/** Pure: the audit service's variables. */
export function loadConfig(env: Record<string, string | undefined>): AuditEnv {
  return readEnv(env, fields);
}
