import { commonEnv, readEnv, type EnvValues } from '@airlock/runtime';

const fields = {
  ...commonEnv,
  pgwireHost: { env: 'AIRLOCK_PGWIRE_HOST', kind: 'string', default: '127.0.0.1' },
  pgwirePort: { env: 'AIRLOCK_PGWIRE_PORT', kind: 'integer', default: '15432', min: 0 },
  httpHost: { env: 'AIRLOCK_HTTP_HOST', kind: 'string', default: '127.0.0.1' },
  httpPort: { env: 'AIRLOCK_HTTP_PORT', kind: 'integer', default: '8080', min: 0 },
  proxyId: { env: 'AIRLOCK_PROXY_ID', kind: 'string' },
} as const;

export type ProxyEnv = EnvValues<typeof fields>;

/** Pure: the proxy's variables. */
export function loadConfig(env: Record<string, string | undefined>): ProxyEnv {
  return readEnv(env, fields);
}
