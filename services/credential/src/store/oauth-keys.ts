import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type pg from 'pg';
import { keyFile, migrate, stateDir } from '@airlock/runtime';

/**
 * The External-OAuth signing key: the credential service's own file, `AIRLOCK_SNOWFLAKE_OAUTH_KEY_FILE`, or
 * `<state folder>/keys/snowflake-oauth.jwk`, created on first use (mode 0600). Every copy reads the same file, so the
 * JWKS that Snowflake's security integration trusts is the same whichever copy serves it. Never in the shared database.
 */
/** An earlier version kept the key in the database: it is removed from there. */
export async function migrateOAuthKeys(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'credential-oauth', [
    {
      id: '001-oauth-keys',
      sql: `CREATE TABLE credential_oauth_keys (kid text PRIMARY KEY, private_jwk jsonb NOT NULL, public_jwk jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    },
    { id: '002-no-keys-in-database', sql: 'DROP TABLE credential_oauth_keys' },
  ]);
}

export async function loadOrCreateOAuthKey(pool: pg.Pool, env: Record<string, string | undefined>): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  await migrateOAuthKeys(pool);
  const path = env['AIRLOCK_SNOWFLAKE_OAUTH_KEY_FILE'] || join(stateDir(env), 'keys', 'snowflake-oauth.jwk');
  const { value } = await keyFile(path, async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const kid = `airlock-${Date.now().toString(36)}`;
    return { privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' } as JWK, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } as JWK };
  });
  return value;
}
