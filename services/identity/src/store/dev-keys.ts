import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { webcrypto } from 'node:crypto';
import type pg from 'pg';

type CryptoKey = webcrypto.CryptoKey;
import { migrate } from '@airlock/runtime';

const migrations = [
  {
    id: '001-dev-keys',
    sql: `CREATE TABLE identity_dev_keys (
            kid text PRIMARY KEY,
            private_jwk jsonb NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())`,
  },
];

export interface DevKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function migrateIdentity(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'identity', migrations);
}

/**
 * The development issuer's signing key, created once and shared through the database so that
 * `airlock token` (a separate process) and the identity service agree on it.
 */
export async function loadOrCreateDevKey(pool: pg.Pool): Promise<DevKey> {
  await migrateIdentity(pool);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('airlock-dev-issuer-key'))");
    const { rows } = await client.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
      'SELECT kid, private_jwk, public_jwk FROM identity_dev_keys ORDER BY created_at DESC LIMIT 1',
    );
    let row = rows[0];
    if (!row) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const kid = `dev-${Date.now().toString(36)}`;
      const private_jwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
      const public_jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
      await client.query('INSERT INTO identity_dev_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)', [kid, private_jwk, public_jwk]);
      row = { kid, private_jwk, public_jwk };
    }
    await client.query('COMMIT');
    return {
      kid: row.kid,
      privateKey: (await importJWK(row.private_jwk, 'ES256')) as CryptoKey,
      publicKey: (await importJWK(row.public_jwk, 'ES256')) as CryptoKey,
      publicJwk: row.public_jwk,
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
