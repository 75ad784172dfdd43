import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { webcrypto } from 'node:crypto';
import type pg from 'pg';

type CryptoKey = webcrypto.CryptoKey;
import { join } from 'node:path';
import { keyFile, migrate, stateDir } from '@airlock/runtime';

const migrations = [
  {
    id: '001-dev-keys',
    sql: `CREATE TABLE identity_dev_keys (
            kid text PRIMARY KEY,
            private_jwk jsonb NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())`,
  },
  // the key moved to a file of the identity service's own: no clear private key stays in the shared database
  { id: '002-no-dev-keys-in-database', sql: 'DROP TABLE identity_dev_keys' },
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
 * The development issuer's signing key: the file `AIRLOCK_DEV_ISSUER_KEY_FILE`, or `<state folder>/keys/dev-issuer.jwk`,
 * created on first use (mode 0600), so that `airlock token` (a separate process in the same checkout) and the identity
 * service agree on it. Never in the shared database.
 */
export async function loadOrCreateDevKey(env: Record<string, string | undefined>): Promise<DevKey> {
  const path = env['AIRLOCK_DEV_ISSUER_KEY_FILE'] || join(stateDir(env), 'keys', 'dev-issuer.jwk');
  const { value } = await keyFile(path, async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `dev-${Date.now().toString(36)}`;
    return { private_jwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' }, public_jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
  });
  const row = value as { private_jwk: JWK; public_jwk: JWK };
  return {
    kid: row.public_jwk.kid!,
    privateKey: (await importJWK(row.private_jwk, 'ES256')) as CryptoKey,
    publicKey: (await importJWK(row.public_jwk, 'ES256')) as CryptoKey,
    publicJwk: row.public_jwk,
  };
}
