/** Environment → EmulatorOptions for `main.ts`; pure, reports every problem at once. */
import { readFileSync } from 'node:fs';
import type { EmulatorOptions } from './types.js';

export function loadConfig(env: Record<string, string | undefined>): EmulatorOptions {
  const problems: string[] = [];
  const databaseUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/airlock_demo';
  const account = env.AIRLOCK_SFEMU_ACCOUNT ?? 'AIRLOCK_DEMO';
  const adminUser = env.AIRLOCK_SFEMU_ADMIN_USER ?? 'AIRLOCK_ADMIN';
  const port = Number(env.AIRLOCK_SFEMU_PORT ?? '8085');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`AIRLOCK_SFEMU_PORT: not a port number: ${env.AIRLOCK_SFEMU_PORT}`);
  let adminPublicKeyPem = env.AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY;
  if (env.AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY_FILE) {
    try {
      adminPublicKeyPem = readFileSync(env.AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY_FILE, 'utf8');
    } catch (err) {
      problems.push(`AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY_FILE: cannot read ${env.AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY_FILE}: ${(err as Error).message}`);
    }
  }
  const adminPassword = env.AIRLOCK_SFEMU_ADMIN_PASSWORD;
  if (!adminPassword && !adminPublicKeyPem) {
    problems.push('AIRLOCK_SFEMU_ADMIN_PASSWORD or AIRLOCK_SFEMU_ADMIN_PUBLIC_KEY(_FILE): set at least one so the admin can log in');
  }
  const oauthVars = ['AIRLOCK_SFEMU_OAUTH_JWKS_URL', 'AIRLOCK_SFEMU_OAUTH_ISSUER', 'AIRLOCK_SFEMU_OAUTH_AUDIENCE'] as const;
  const oauthSet = oauthVars.filter((v) => env[v]);
  if (oauthSet.length > 0 && oauthSet.length < oauthVars.length) {
    problems.push(`External OAuth needs all of ${oauthVars.join(', ')}; missing ${oauthVars.filter((v) => !env[v]).join(', ')}`);
  }
  try {
    new URL(databaseUrl);
  } catch {
    problems.push('DATABASE_URL: not a URL');
  }
  if (problems.length > 0) throw new Error(`Invalid emulator configuration:\n- ${problems.join('\n- ')}`);
  return Object.freeze({
    databaseUrl,
    host: env.AIRLOCK_SFEMU_HOST ?? '127.0.0.1',
    port,
    account,
    database: env.AIRLOCK_SFEMU_DATABASE ?? 'DEMO',
    adminUser,
    adminPassword,
    adminPublicKeyPem,
    rolePrefix: env.AIRLOCK_SFEMU_ROLE_PREFIX,
    externalOAuth:
      oauthSet.length === oauthVars.length
        ? {
            jwksUrl: env.AIRLOCK_SFEMU_OAUTH_JWKS_URL ?? '',
            issuer: env.AIRLOCK_SFEMU_OAUTH_ISSUER ?? '',
            audience: env.AIRLOCK_SFEMU_OAUTH_AUDIENCE ?? '',
            userClaim: env.AIRLOCK_SFEMU_OAUTH_USER_CLAIM ?? 'sub',
          }
        : undefined,
  });
}
