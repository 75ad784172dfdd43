import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type pg from 'pg';
import { migrate } from '@airlock/runtime';

/**
 * The External-OAuth signing key, created once and shared by every credential-service copy through the database,
 * so the JWKS that Snowflake's security integration trusts is the same whichever copy serves it.
 */
export async function loadOrCreateOAuthKey(pool: pg.Pool): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  await migrate(pool, 'credential-oauth', [
    {
      id: '001-oauth-keys',
      sql: `CREATE TABLE credential_oauth_keys (kid text PRIMARY KEY, private_jwk jsonb NOT NULL, public_jwk jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    },
  ]);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('airlock-oauth-key'))");
    const { rows } = await client.query<{ private_jwk: JWK; public_jwk: JWK }>('SELECT private_jwk, public_jwk FROM credential_oauth_keys ORDER BY created_at DESC LIMIT 1');
    let row = rows[0];
    if (!row) {
      const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
      const kid = `airlock-${Date.now().toString(36)}`;
      row = { private_jwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' }, public_jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
      await client.query('INSERT INTO credential_oauth_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)', [kid, row.private_jwk, row.public_jwk]);
    }
    await client.query('COMMIT');
    return { privateJwk: row.private_jwk, publicJwk: row.public_jwk };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
