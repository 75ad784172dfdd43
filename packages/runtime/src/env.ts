/** A variable a service reads from its environment. */
export interface EnvField {
  env: string;
  kind: 'string' | 'integer' | 'boolean' | 'url';
  default?: string;
  /** for integers */
  min?: number;
  /** a variable that must be given (no default) */
  required?: boolean;
}

type FieldValue<F extends EnvField> = F['kind'] extends 'integer' ? number : F['kind'] extends 'boolean' ? boolean : string;
type FieldResult<F extends EnvField> = F['default'] extends string ? FieldValue<F> : F['required'] extends true ? FieldValue<F> : FieldValue<F> | undefined;
export type EnvValues<T extends Record<string, EnvField>> = { readonly [K in keyof T]: FieldResult<T[K]> };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads every field, reports every problem at once (naming the variable), and freezes the result. Pure: env is a parameter. */
export function readEnv<T extends Record<string, EnvField>>(env: Record<string, string | undefined>, fields: T): EnvValues<T> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const raw = env[field.env] ?? field.default;
    if (raw === undefined || raw === '') {
      if (field.required) problems.push(`${field.env} is required`);
      continue;
    }
    switch (field.kind) {
      case 'string':
        out[key] = raw;
        break;
      case 'integer': {
        const n = Number(raw);
        if (!Number.isInteger(n)) problems.push(`${field.env} must be an integer, got "${raw}"`);
        else if (field.min !== undefined && n < field.min) problems.push(`${field.env} must be at least ${field.min}, got ${n}`);
        else out[key] = n;
        break;
      }
      case 'boolean':
        if (!['true', 'false', '1', '0'].includes(raw)) problems.push(`${field.env} must be true or false, got "${raw}"`);
        else out[key] = raw === 'true' || raw === '1';
        break;
      case 'url':
        try {
          new URL(raw);
          out[key] = raw;
        } catch {
          problems.push(`${field.env} must be a URL`);
        }
        break;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as EnvValues<T>;
}

/** The variables every service reads. */
export const commonEnv = {
  natsUrl: { env: 'NATS_URL', kind: 'url', default: 'nats://127.0.0.1:4222' },
  databaseUrl: { env: 'DATABASE_URL', kind: 'url', default: 'postgres://postgres@127.0.0.1:5432/airlock' },
  configPath: { env: 'AIRLOCK_CONFIG', kind: 'string' },
  subjectRoot: { env: 'AIRLOCK_SUBJECT_ROOT', kind: 'string', default: 'airlock' },
  logLevel: { env: 'AIRLOCK_LOG_LEVEL', kind: 'string', default: 'info' },
  natsUser: { env: 'AIRLOCK_NATS_USER', kind: 'string' },
  natsPassword: { env: 'AIRLOCK_NATS_PASSWORD', kind: 'string' },
  eventRetentionSeconds: { env: 'AIRLOCK_EVENT_RETENTION_SECONDS', kind: 'integer', default: '0', min: 0 },
  /** the service's own keys and secrets when no variable names them (default `.airlock` at the checkout's root) */
  stateDir: { env: 'AIRLOCK_STATE_DIR', kind: 'string' },
  /** `1` in demo mode only (set by `airlock up` without a config): the demo config and the development issuer */
  demo: { env: 'AIRLOCK_DEMO', kind: 'boolean' },
} as const satisfies Record<string, EnvField>;
