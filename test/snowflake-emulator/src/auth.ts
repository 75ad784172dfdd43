/**
 * The three login methods: key-pair JWT (any user with RSA_PUBLIC_KEY), External OAuth (JWKS-verified JWT mapped to
 * an existing user), and password (the admin user only). Each failure is the Snowflake error the driver expects.
 */
import { createHash, createPublicKey, timingSafeEqual, verify } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { sfErrors } from './errors.js';
import { publicKeyFingerprint } from './commands.js';
import type { Store, UserRecord } from './store.js';

export interface ExternalOAuthConfig {
  jwksUrl: string;
  issuer: string;
  audience: string;
  userClaim: string;
}

export interface LoginData {
  authenticator: string;
  accountName: string | null;
  loginName: string | null;
  password: string | null;
  token: string | null;
}

export interface Authenticated {
  user: UserRecord;
  /** The role an OAuth token's scope names; it decides the session role. */
  tokenRole: string | null;
}

/** Snowflake blocks these for External OAuth unless the account opts out. */
const OAUTH_BLOCKED_ROLES = new Set(['ACCOUNTADMIN', 'ORGADMIN', 'SECURITYADMIN']);
/** Snowflake refuses key-pair JWTs that live longer than an hour. */
const MAX_JWT_LIFETIME_SECONDS = 3600;
const CLOCK_SKEW_SECONDS = 60;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** JWT times in seconds; snowflake-sdk 3.x sends iat/exp in milliseconds, which real Snowflake accepts. */
function toSeconds(v: unknown): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return v > 1e11 ? v / 1000 : v;
}

function decodeSegment(seg: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export class Authenticator {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | null;

  constructor(
    private readonly store: Store,
    private readonly account: string,
    private readonly adminUser: string,
    private readonly adminPassword: string | null,
    private readonly oauth: ExternalOAuthConfig | null,
  ) {
    this.jwks = oauth ? createRemoteJWKSet(new URL(oauth.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 0 }) : null;
  }

  async authenticate(d: LoginData): Promise<Authenticated> {
    switch (d.authenticator) {
      case 'SNOWFLAKE':
        return { user: await this.password(d), tokenRole: null };
      case 'SNOWFLAKE_JWT':
        return { user: await this.keyPair(d), tokenRole: null };
      case 'OAUTH':
        return this.externalOAuth(d);
      default:
        throw sfErrors.badUserPassword();
    }
  }

  private async password(d: LoginData): Promise<UserRecord> {
    if (!d.loginName || d.password === null || this.adminPassword === null) throw sfErrors.badUserPassword();
    const user = await this.store.findUserByLogin(d.loginName);
    // Compare digests so that the comparison time does not depend on the password.
    const ok = timingSafeEqual(sha256(d.password), sha256(this.adminPassword));
    if (!user || user.name !== this.adminUser || !ok) throw sfErrors.badUserPassword();
    return user;
  }

  private async keyPair(d: LoginData): Promise<UserRecord> {
    const token = d.token ?? '';
    const parts = token.split('.');
    if (parts.length !== 3) throw sfErrors.jwtInvalid();
    const header = decodeSegment(parts[0]);
    const payload = decodeSegment(parts[1]);
    if (!header || !payload || header.alg !== 'RS256') throw sfErrors.jwtInvalid();
    const sub = typeof payload.sub === 'string' ? payload.sub : '';
    const account = this.account.toUpperCase();
    if (!sub.toUpperCase().startsWith(`${account}.`)) throw sfErrors.jwtInvalid();
    const userPart = sub.slice(account.length + 1);
    const user = (await this.store.getUser(userPart)) ?? (await this.store.findUserByLogin(userPart));
    if (!user || !user.rsaPublicKey) throw sfErrors.jwtInvalid();
    const expectedIss = `${account}.${userPart.toUpperCase()}.${publicKeyFingerprint(user.rsaPublicKey)}`;
    if (typeof payload.iss !== 'string' || payload.iss.toUpperCase() !== expectedIss.toUpperCase()) throw sfErrors.jwtInvalid();
    // The fingerprint is case-sensitive base64: compare it exactly.
    if (payload.iss.slice(payload.iss.lastIndexOf('SHA256:')) !== publicKeyFingerprint(user.rsaPublicKey)) throw sfErrors.jwtInvalid();
    const key = createPublicKey({ key: Buffer.from(user.rsaPublicKey, 'base64'), format: 'der', type: 'spki' });
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!verify('sha256', signed, key, Buffer.from(parts[2], 'base64url'))) throw sfErrors.jwtInvalid();
    const now = Date.now() / 1000;
    const exp = toSeconds(payload.exp);
    const iat = toSeconds(payload.iat);
    if (exp === null || exp < now - CLOCK_SKEW_SECONDS || exp > now + MAX_JWT_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) throw sfErrors.jwtInvalid();
    if (iat !== null && iat > now + CLOCK_SKEW_SECONDS) throw sfErrors.jwtInvalid();
    return user;
  }

  private async externalOAuth(d: LoginData): Promise<Authenticated> {
    if (!this.jwks || !this.oauth || !d.token) throw sfErrors.oauthInvalid();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(d.token, this.jwks, {
        issuer: this.oauth.issuer,
        audience: this.oauth.audience,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') throw sfErrors.oauthExpired();
      throw sfErrors.oauthInvalid();
    }
    const claim = payload[this.oauth.userClaim];
    if (typeof claim !== 'string' || claim === '') throw sfErrors.oauthInvalid();
    const user = await this.store.findUserByLogin(claim);
    if (!user) throw sfErrors.oauthInvalid();
    const scopes = scopeList(payload.scp ?? payload.scope);
    const roleScope = scopes.find((s) => s.toLowerCase().startsWith('session:role:'));
    const tokenRole = roleScope ? roleScope.slice('session:role:'.length).toUpperCase() : null;
    if (tokenRole && OAUTH_BLOCKED_ROLES.has(tokenRole)) throw sfErrors.oauthInvalid();
    return { user, tokenRole };
  }
}

/** `scp` as a list, or `scp`/`scope` as a space-separated string. */
function scopeList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  return [];
}
