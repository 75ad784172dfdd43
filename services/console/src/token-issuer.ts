import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { keyFile, stateDir } from '@airlock/runtime';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Principal } from '@airlock/contracts';

type CryptoKey = webcrypto.CryptoKey;

/** The audience of the tokens the console signs; the console issuer's entry in `identity.issuers` lists it first. */
export const consoleTokenAudience = 'airlock-console';

/**
 * Signs short-lived tokens for people who signed in by SAML, so that the approval and audit APIs (which verify
 * bearer tokens through the identity service) can check who acts. The identity service trusts this issuer only
 * when the operator lists it in `identity.issuers`; its JWKS is served by the console. The key is the
 * console's own (a file), shared by its copies.
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

  /**
   * The key is the console's own file: `AIRLOCK_CONSOLE_TOKEN_KEY_FILE`, or `<state folder>/keys/console-token.jwk`,
   * created on first use (mode 0600). Copies of the console share the file; it is never in the shared database.
   */
  static async load(env: Record<string, string | undefined>, issuer: string, ttlSeconds: number): Promise<TokenIssuer> {
    const path = env['AIRLOCK_CONSOLE_TOKEN_KEY_FILE'] || join(stateDir(env), 'keys', 'console-token.jwk');
    const { value: row } = await keyFile(path, async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const kid = `console-${Date.now().toString(36)}`;
      return {
        kid,
        private_jwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' } as JWK,
        public_jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } as JWK,
      };
    });
    return new TokenIssuer(issuer, ttlSeconds, { kid: row.kid, privateKey: (await importJWK(row.private_jwk, 'ES256')) as CryptoKey, publicJwk: row.public_jwk });
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
