import { webcrypto } from 'node:crypto';
import type pg from 'pg';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Principal } from '@airlock/contracts';

type CryptoKey = webcrypto.CryptoKey;

/** The audience of the tokens the console signs; the console issuer's entry in `identity.issuers` lists it first. */
export const consoleTokenAudience = 'airlock-console';

/**
 * Signs short-lived tokens for people who signed in by SAML, so that the approval and audit APIs (which verify
 * bearer tokens through the identity service) can check who acts. The identity service trusts this issuer only
 * when the operator lists it in `identity.issuers`; its JWKS is served by the console. The key is shared through
 * PostgreSQL by every copy of the console.
 */
export class TokenIssuer {
  readonly issuer: string;
  readonly #ttlSeconds: number;
  readonly #key: { kid: string; privateKey: CryptoKey; publicJwk: JWK };

  private constructor(issuer: string, ttlSeconds: number, key: { kid: string; privateKey: CryptoKey; publicJwk: JWK }) {
    this.issuer = issuer;
    this.#ttlSeconds = ttlSeconds;
    this.#key = key;
  }

  static async load(pool: pg.Pool, issuer: string, ttlSeconds: number): Promise<TokenIssuer> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('airlock-console-signing-key'))");
      const { rows } = await client.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
        'SELECT kid, private_jwk, public_jwk FROM console_signing_keys ORDER BY created_at DESC LIMIT 1',
      );
      let row = rows[0];
      if (!row) {
        const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
        const kid = `console-${Date.now().toString(36)}`;
        row = {
          kid,
          private_jwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
          public_jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
        };
        await client.query('INSERT INTO console_signing_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)', [row.kid, row.private_jwk, row.public_jwk]);
      }
      await client.query('COMMIT');
      return new TokenIssuer(issuer, ttlSeconds, { kid: row.kid, privateKey: (await importJWK(row.private_jwk, 'ES256')) as CryptoKey, publicJwk: row.public_jwk });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  get jwks(): { keys: JWK[] } {
    return { keys: [this.#key.publicJwk] };
  }

  async mint(principal: Principal): Promise<string> {
    return new SignJWT({ groups: principal.groups, ...(principal.email ? { email: principal.email } : {}), idp: principal.issuer })
      .setProtectedHeader({ alg: 'ES256', kid: this.#key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(principal.subject)
      .setAudience(consoleTokenAudience)
      .setIssuedAt()
      .setExpirationTime(`${this.#ttlSeconds}s`)
      .sign(this.#key.privateKey);
  }
}
