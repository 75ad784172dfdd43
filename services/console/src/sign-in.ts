import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { SAML, ValidateInResponseTo, type CacheProvider } from '@node-saml/node-saml';
import { consoleApis, type ConsoleApi, type Console } from '@airlock/config';
import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { Secrets } from './crypto.js';

type OidcSettings = NonNullable<Console['oidc']>;
type SamlSettings = NonNullable<Console['saml']>;

/**
 * What a finished sign-in yields: who, and per API the IdP's own credential that the API verifies itself (OIDC: an
 * access token issued for that API alone; SAML: the signed response). An API without one is refused at use.
 */
export interface SignedIn {
  principal: Principal;
  bearers: Partial<Record<ConsoleApi, string>>;
  expiresAt?: Date;
}

/** The resource (RFC 8707) the console asks an access token for, per API; see `consoleResource` in the config package. */
export type ApiResources = Readonly<Record<ConsoleApi, string>>;

interface OidcFlow {
  verifier: string;
  state: string;
  nonce: string;
  exp: number;
}

/**
 * OIDC authorization code with PKCE (S256), state and nonce. The flow's secrets travel in a sealed, short-lived
 * cookie scoped to the callback path, so any copy of the console can finish what another started.
 *
 * The ID token says who signed in and goes nowhere else: each API gets an access token the IdP issued for it alone
 * (resource indicators, RFC 8707), the first from the code, the others by the refresh token, so a token one API
 * received opens no other door.
 */
export class OidcSignIn {
  readonly #settings: OidcSettings;
  readonly #secret: string | undefined;
  readonly #secrets: Secrets;
  readonly #resources: ApiResources;
  #discovered: Promise<oidc.Configuration> | undefined;

  constructor(settings: OidcSettings, clientSecret: string | undefined, secrets: Secrets, resources: ApiResources) {
    this.#settings = settings;
    this.#secret = clientSecret;
    this.#secrets = secrets;
    this.#resources = resources;
  }

  #config(): Promise<oidc.Configuration> {
    this.#discovered ??= oidc
      .discovery(
        new URL(this.#settings.issuer),
        this.#settings.clientId,
        this.#secret,
        this.#secret ? oidc.ClientSecretPost(this.#secret) : oidc.None(),
        // plain http is accepted for an issuer on the loopback interface only (a laptop or a test)
        new URL(this.#settings.issuer).protocol === 'http:' && isLoopback(new URL(this.#settings.issuer).hostname) ? { execute: [oidc.allowInsecureRequests] } : {},
      )
      .catch((err: unknown) => {
        this.#discovered = undefined;
        throw new AirlockError('runtime.unavailable', `OIDC discovery at ${this.#settings.issuer} failed (${err instanceof Error ? err.message : 'error'}); retry shortly`);
      });
    return this.#discovered;
  }

  async start(): Promise<{ url: string; flow: string }> {
    const config = await this.#config();
    const verifier = oidc.randomPKCECodeVerifier();
    const flow: OidcFlow = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce(), exp: Date.now() + 600_000 };
    const params = new URLSearchParams({
      redirect_uri: this.#settings.redirectUri,
      scope: (this.#settings.scopes ?? ['openid', 'email', 'profile', 'groups']).join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    // every API's resource is asked for up front: the token requests that follow may only narrow to one of them
    for (const resource of new Set(Object.values(this.#resources))) params.append('resource', resource);
    const url = oidc.buildAuthorizationUrl(config, params);
    return { url: url.href, flow: this.#secrets.seal(JSON.stringify(flow)) };
  }

  async finish(callbackUrl: URL, sealedFlow: string | undefined): Promise<SignedIn> {
    const opened = sealedFlow ? this.#secrets.unseal(sealedFlow) : undefined;
    const flow = opened ? (JSON.parse(opened) as OidcFlow) : undefined;
    if (!flow || flow.exp < Date.now()) {
      throw new AirlockError('console.sign_in_failed', 'the sign-in took too long or was started in another browser; sign in again');
    }
    const config = await this.#config();
    // the IdP redirects to the configured redirect URI; the path and query are what this request received
    const current = new URL(this.#settings.redirectUri);
    current.search = callbackUrl.search;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(
        config,
        current,
        { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true },
        { resource: this.#resources[consoleApis[0]!] },
      );
    } catch (err) {
      throw new AirlockError('console.sign_in_failed', `the identity provider's answer was refused (${err instanceof Error ? err.message.slice(0, 200) : 'error'}); sign in again`);
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new AirlockError('console.sign_in_failed', 'the identity provider sent no ID token; enable the openid scope for this client');
    const raw = claims['groups'];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? raw.split(/[ ,]+/).filter(Boolean) : [];
    const access = await this.#accessTokens(config, tokens);
    return {
      principal: { subject: claims.sub, issuer: claims.iss, groups, ...(typeof claims['email'] === 'string' ? { email: claims['email'] } : {}) },
      bearers: access.bearers,
      // the session ends with the first of its tokens: an API refuses an expired one, and none is renewed
      expiresAt: new Date(Math.min(claims.exp * 1000, ...access.expiries)),
    };
  }

  /**
   * One access token per API: the code's, when issued for that API's resource, then one refresh-token grant per
   * resource still missing. A token is kept only when it is a JWT naming the resource as audience and is not the ID
   * token, so an IdP that ignores resource indicators leaves the API without a token rather than with the wrong one.
   */
  async #accessTokens(config: oidc.Configuration, first: oidc.TokenEndpointResponse): Promise<{ bearers: SignedIn['bearers']; expiries: number[] }> {
    const byResource = new Map<string, { token: string; exp: number }>();
    const keep = (response: oidc.TokenEndpointResponse, resource: string) => {
      const exp = accessTokenExpiry(response, resource);
      if (exp !== undefined) byResource.set(resource, { token: response.access_token, exp });
    };
    keep(first, this.#resources[consoleApis[0]!]);
    let refreshToken = first.refresh_token;
    for (const api of consoleApis) {
      const resource = this.#resources[api];
      if (byResource.has(resource) || !refreshToken) continue;
      try {
        const next = await oidc.refreshTokenGrant(config, refreshToken, { resource });
        // an IdP that rotates refresh tokens has spent the one just used
        refreshToken = next.refresh_token ?? refreshToken;
        keep(next, resource);
      } catch (err) {
        // an IdP that refuses the grant or the resource leaves this API without a token (using it says what the IdP
        // lacks); any other failure (unreachable, a malformed answer) fails the sign-in as the code grant does
        if (!(err instanceof oidc.ResponseBodyError)) {
          throw new AirlockError('console.sign_in_failed', `the identity provider's answer was refused (${err instanceof Error ? err.message.slice(0, 200) : 'error'}); sign in again`);
        }
      }
    }
    const bearers: SignedIn['bearers'] = {};
    for (const api of consoleApis) {
      const got = byResource.get(this.#resources[api]);
      if (got) bearers[api] = got.token;
    }
    return { bearers, expiries: [...byResource.values()].map((t) => t.exp) };
  }
}

/** The expiry (ms) of the response's access token when it is a JWT issued for `resource` and not the ID token. */
function accessTokenExpiry(response: oidc.TokenEndpointResponse, resource: string): number | undefined {
  const token = response.access_token;
  if (!token || token === response.id_token) return undefined;
  let claims;
  try {
    // read, not verified: the API verifies it; this only tells a token made for the API from one that is not
    claims = decodeJwt(token);
  } catch {
    return undefined;
  }
  const aud = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
  if (!aud.includes(resource) || typeof claims.exp !== 'number') return undefined;
  return claims.exp * 1000;
}

/** SAML 2.0 Web SSO: AuthnRequest by HTTP-Redirect, signed Response by HTTP-POST, InResponseTo checked against PostgreSQL. */
export class SamlSignIn {
  readonly #settings: SamlSettings;
  readonly #sp: SAML;

  constructor(settings: SamlSettings, cache: CacheProvider, clockSkewSeconds: number) {
    this.#settings = settings;
    this.#sp = new SAML({
      entryPoint: settings.entryPoint,
      issuer: settings.issuer,
      idpCert: settings.idpCert,
      audience: settings.audience,
      callbackUrl: settings.callbackUrl,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: clockSkewSeconds * 1000,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: 600_000,
      cacheProvider: cache,
    });
  }

  start(): Promise<string> {
    return this.#sp.getAuthorizeUrlAsync('', undefined, {});
  }

  async finish(samlResponse: string | undefined): Promise<SignedIn> {
    if (!samlResponse) throw new AirlockError('console.sign_in_failed', 'the SAML callback carried no SAMLResponse; sign in again');
    let profile;
    try {
      ({ profile } = await this.#sp.validatePostResponseAsync({ SAMLResponse: samlResponse }));
    } catch (err) {
      throw new AirlockError('console.sign_in_failed', `the SAML response was refused (${err instanceof Error ? err.message.slice(0, 200) : 'error'}); sign in again`);
    }
    if (!profile?.nameID || !profile.issuer) throw new AirlockError('console.sign_in_failed', 'the SAML assertion names no subject or issuer');
    const assertion = (profile.getAssertion?.() as { Assertion?: { Conditions?: Array<{ $?: { NotOnOrAfter?: string } }>; Subject?: Array<{ SubjectConfirmation?: Array<{ SubjectConfirmationData?: Array<{ $?: { Recipient?: string; NotOnOrAfter?: string } }> }> }> } } | undefined)?.Assertion;
    const recipients = (assertion?.Subject?.[0]?.SubjectConfirmation ?? []).map((s) => s.SubjectConfirmationData?.[0]?.$?.Recipient);
    if (!recipients.includes(this.#settings.callbackUrl)) {
      throw new AirlockError('console.sign_in_failed', 'the SAML assertion was issued for another recipient than this console; check the IdP\'s ACS URL');
    }
    const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
    const raw = attributes[this.#settings.groupsAttribute ?? 'groups'];
    const groups = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((g): g is string => typeof g === 'string' && g !== '');
    const email = attributes['email'] ?? profile.email;
    // the session ends with the assertion: the services refuse it once expired, so no longer session is of use
    const ends = [assertion?.Conditions?.[0]?.$?.NotOnOrAfter, ...(assertion?.Subject?.[0]?.SubjectConfirmation ?? []).map((s) => s.SubjectConfirmationData?.[0]?.$?.NotOnOrAfter)]
      .filter((t): t is string => typeof t === 'string')
      .map((t) => Date.parse(t))
      .filter((t) => !Number.isNaN(t));
    return {
      principal: { subject: profile.nameID, issuer: profile.issuer, groups, ...(typeof email === 'string' ? { email } : {}) },
      // relayed as the IdP signed it, to both APIs; identity checks it again (signature, audience, recipient, validity) at each call
      bearers: Object.fromEntries(consoleApis.map((api) => [api, samlResponse])),
      ...(ends.length > 0 ? { expiresAt: new Date(Math.min(...ends)) } : {}),
    };
  }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}
