import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { doorAudience, doorNames, type AirlockConfig, type Door, type Issuer } from '@airlock/config';
import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { DevKey } from './store/dev-keys.js';
import { defaultDevIssuer } from './dev-issuer.js';
import { looksLikeSaml, type SamlVerifier } from './saml.js';

const defaultAlgorithms = ['RS256', 'ES256'];

export interface VerifiedToken {
  principal: Principal;
  expiresAt: Date;
}

export interface VerifierOptions {
  config: AirlockConfig;
  devKey?: DevKey;
  /** injectable for tests; global fetch by default */
  fetch?: typeof fetch;
  /** accepts signed SAML assertions beside JWTs when the config names SAML IdPs */
  saml?: SamlVerifier;
}

/**
 * Verifies OIDC JWTs against the configured issuers: discovery and JWKS (cached by jose, refetched on an unknown
 * `kid` so key rotation works), signature with allowed algorithms only, `iss`, `aud`, `exp`/`nbf` with a small skew.
 */
export class TokenVerifier {
  readonly #config: AirlockConfig;
  readonly #devKey: DevKey | undefined;
  readonly #fetch: typeof fetch;
  readonly #keySets = new Map<string, Promise<JWTVerifyGetKey>>();
  readonly #saml: SamlVerifier | undefined;

  constructor(options: VerifierOptions) {
    this.#config = options.config;
    this.#saml = options.saml;
    this.#devKey = options.devKey;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Verifies `token` for one door (default the database doors): it must carry the audience the token's issuer has for
   * that door. `audience`, for a caller outside the doors, names an exact audience the issuer lists instead.
   */
  /** `recheck`: the token already opened a session and is verified again (a SAML assertion is then not new) */
  async verify(token: string, audience?: string, door?: Door, recheck = false): Promise<VerifiedToken> {
    if (this.#saml && looksLikeSaml(token)) {
      // an IdP's assertion names one audience, so it opens the doors of that SP: Airlock's (the database doors), or
      // the console's, which relays its person's assertion to the approval and audit APIs; the person is the IdP's
      // subject at every door, so self-approval and quorum see one person wherever they came in
      if (door === 'approval' || door === 'audit') {
        const consoleSp = this.#config.console?.saml;
        if (!consoleSp) {
          throw new AirlockError('identity.audience_mismatch', `${doorNames[door]} does not accept SAML assertions; present an OIDC token issued for it`, { door });
        }
        return this.#saml.verify(token, audience, recheck, { audience: consoleSp.audience, recipient: consoleSp.callbackUrl });
      }
      if (door !== undefined && door !== 'database') {
        throw new AirlockError('identity.audience_mismatch', `${doorNames[door]} does not accept SAML assertions; present an OIDC token issued for it`, { door });
      }
      return this.#saml.verify(token, audience, recheck);
    }
    let claims: JWTPayload;
    try {
      decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      throw new AirlockError('identity.invalid_token', 'the token is not a well-formed JWT; send an OIDC access or ID token as the password or bearer token');
    }
    const issuer = this.#config.identity.issuers.find((i) => i.issuer === claims.iss);
    if (!issuer) {
      throw new AirlockError('identity.unknown_issuer', 'the token was issued by an issuer this Airlock does not trust; use a token from a configured issuer', {
        issuer: typeof claims.iss === 'string' ? claims.iss.slice(0, 200) : null,
      });
    }
    let expected: string;
    let refusal: (aud: string) => AirlockError;
    if (audience !== undefined && door === undefined) {
      if (!issuer.audiences.includes(audience)) {
        throw new AirlockError('identity.audience_mismatch', `tokens of this issuer are not accepted for audience ${audience}`);
      }
      expected = audience;
      refusal = (aud) => new AirlockError('identity.audience_mismatch', `the token was not issued for this audience (${aud}); request a token for it`, { audience: aud });
    } else {
      const at = door ?? 'database';
      const own = doorAudience(this.#config, issuer, at);
      if (own === undefined || (audience !== undefined && audience !== own)) {
        throw new AirlockError(
          'identity.audience_mismatch',
          `${doorNames[at]} does not accept tokens of issuer ${issuer.issuer}; an operator opens it with identity.issuers[].doors.${at}`,
          { door: at },
        );
      }
      expected = own;
      refusal = (aud) =>
        new AirlockError(
          'identity.audience_mismatch',
          `${doorNames[at]} takes tokens issued for audience ${aud}, and this token was issued for another; request a token for ${aud}`,
          { door: at, audience: aud },
        );
    }
    const keys = await this.#keySet(issuer);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: issuer.issuer,
        audience: expected,
        algorithms: issuer.algorithms ?? defaultAlgorithms,
        clockTolerance: this.#config.identity.clockSkewSeconds ?? 30,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') throw refusal(expected);
      throw mapJoseError(err);
    }
    return { principal: toPrincipal(payload, issuer), expiresAt: new Date((payload.exp ?? 0) * 1000) };
  }

  #keySet(issuer: Issuer): Promise<JWTVerifyGetKey> {
    let ks = this.#keySets.get(issuer.issuer);
    if (!ks) {
      ks = this.#resolveKeySet(issuer);
      this.#keySets.set(issuer.issuer, ks);
      ks.catch(() => this.#keySets.delete(issuer.issuer));
    }
    return ks;
  }

  async #resolveKeySet(issuer: Issuer): Promise<JWTVerifyGetKey> {
    const dev = this.#config.identity.devIssuer;
    if (dev?.enabled && this.#devKey && (dev.issuer ?? defaultDevIssuer) === issuer.issuer) {
      return createLocalJWKSet({ keys: [this.#devKey.publicJwk] });
    }
    let jwksUri = issuer.jwksUri;
    if (!jwksUri) {
      const url = `${issuer.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      let doc: { issuer?: unknown; jwks_uri?: unknown };
      try {
        const res = await this.#fetch(url, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = (await res.json()) as typeof doc;
      } catch (err) {
        throw new AirlockError('runtime.unavailable', `OIDC discovery for ${issuer.issuer} failed (${err instanceof Error ? err.message : 'error'}); retry shortly`);
      }
      if (doc.issuer !== issuer.issuer || typeof doc.jwks_uri !== 'string') {
        throw new AirlockError('runtime.unavailable', `OIDC discovery for ${issuer.issuer} returned a document for another issuer or without jwks_uri`);
      }
      jwksUri = doc.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5000 });
  }
}

function mapJoseError(err: unknown): AirlockError {
  if (err instanceof AirlockError) return err;
  if (err instanceof joseErrors.JWTExpired) {
    return new AirlockError('identity.expired_token', 'the token has expired; get a fresh token and connect again');
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') {
      return new AirlockError('identity.invalid_token', 'the token is not valid yet; check the clock of the issuer');
    }
    return new AirlockError('identity.invalid_token', `the token's ${err.claim} claim is invalid`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AirlockError('identity.invalid_token', 'the token is signed with an algorithm that is not allowed');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
    return new AirlockError('identity.invalid_token', 'the token signature does not verify against the issuer keys');
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError === false) {
    return new AirlockError('runtime.unavailable', 'the issuer keys could not be fetched; retry shortly');
  }
  return new AirlockError('identity.invalid_token', 'the token is invalid');
}

function toPrincipal(payload: JWTPayload, issuer: Issuer): Principal {
  const groupsClaim = issuer.groupsClaim ?? 'groups';
  const raw = payload[groupsClaim];
  const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? raw.split(/[ ,]+/).filter(Boolean) : [];
  const email = payload[issuer.emailClaim ?? 'email'];
  return {
    subject: String(payload.sub),
    issuer: issuer.issuer,
    groups,
    ...(typeof email === 'string' ? { email } : {}),
  };
}
