import type pg from 'pg';
import { migrate } from '@airlock/runtime';

const migrations = [
  {
    id: '001-console',
    sql: `CREATE TABLE console_sessions (
            id_hash text PRIMARY KEY,
            method text NOT NULL CHECK (method IN ('oidc', 'saml')),
            principal jsonb NOT NULL,
            -- the IdP's ID token of an OIDC user, sealed with the session secret; null for SAML users
            bearer_sealed text,
            csrf text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL);
          CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
          -- AuthnRequest IDs in flight, so that a SAML response answers a request this console made (InResponseTo)
          CREATE TABLE console_saml_requests (
            request_id text PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now());
          CREATE TABLE console_signing_keys (
            kid text PRIMARY KEY,
            private_jwk jsonb NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())`,
  },
  // the signing key moved to a file of the console's own: no clear private key stays in the shared database
  { id: '002-no-signing-keys-in-database', sql: 'DROP TABLE console_signing_keys' },
  // bearer_sealed now holds one token per API (OIDC: the access token issued for each); a session signed in before
  // holds one for all (OIDC: the ID token, which the APIs no longer take), so its person signs in again
  { id: '003-bearer-per-api', sql: 'DELETE FROM console_sessions' },
];

export async function migrateConsole(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'console', migrations);
}
