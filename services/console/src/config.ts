import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  httpHost: { env: 'AIRLOCK_CONSOLE_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_CONSOLE_PORT', kind: 'integer', default: '8085', min: 0 },
  /** the address people open (behind a proxy: its https URL); cookies are `Secure` and Origin is checked against it */
  publicUrl: { env: 'AIRLOCK_CONSOLE_PUBLIC_URL', kind: 'url' },
  /** the approval API; unset: where it listens in the same process, else http://127.0.0.1:8081 */
  approvalUrl: { env: 'AIRLOCK_CONSOLE_APPROVAL_URL', kind: 'url' },
  /** the audit API; unset: where it listens in the same process, else http://127.0.0.1:8082 */
  auditUrl: { env: 'AIRLOCK_CONSOLE_AUDIT_URL', kind: 'url' },
} as const;

export type ConsoleEnv = EnvValues<typeof fields>;

/** Pure: the console's variables, every problem reported at once. */
export function loadConfig(env: Record<string, string | undefined>): ConsoleEnv {
  return readEnv(env, fields);
}
