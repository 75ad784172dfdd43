import { randomBytes, randomInt } from 'node:crypto';
import type { Principal } from '@airlock/contracts';
import { failures, type SnowflakeFailure } from './errors.js';
import type { SessionInfo } from './responses.js';
import { Mutex, type StatementSession } from './statement-run.js';

/** One Snowflake login: Airlock's own tokens in front of one proxy Session. */
export interface LoginSession {
  /** the numeric id Snowflake clients expect */
  readonly sessionId: number;
  readonly session: StatementSession;
  readonly connection: string;
  readonly principal: Principal;
  /** the OIDC token (or SAML assertion) of the login, held in memory only: each renewal verifies it again */
  readonly credential: string;
  readonly sessionInfo: SessionInfo;
  readonly lock: Mutex;
  token: string;
  tokenExpiresAt: number;
  masterToken: string;
  /** fixed at login: the OIDC token's expiry or the configured maximum, whichever comes first; renewal never moves it */
  readonly masterExpiresAt: number;
  lastUsed: number;
  /** the proxy session was ended at the master token's expiry; the login stays a while to answer 390112/390114 */
  ended?: boolean;
  /** statements in flight; the session is not idle while any is */
  active: number;
}

export interface LoginSessionSettings {
  tokenSeconds: number;
  masterSeconds: number;
  idleSeconds: number;
}

/** Tokens are random and opaque: they name a session in this proxy and grant nothing upstream. */
function newToken(kind: 'ST' | 'MT'): string {
  return `airlock-${kind}-${randomBytes(32).toString('base64url')}`;
}

/** The logins of one front door instance, by session token and by master token, with idle expiry. */
export class LoginSessions {
  readonly #byToken = new Map<string, LoginSession>();
  readonly #byMaster = new Map<string, LoginSession>();
  readonly #settings: LoginSessionSettings;
  readonly #now: () => number;

  constructor(settings: LoginSessionSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  get size(): number {
    return this.#byMaster.size;
  }

  /** `notAfter`: the expiry of the OIDC token the client logged in with; no token of this login outlives it */
  create(fields: { session: StatementSession; connection: string; principal: Principal; credential: string; sessionInfo: SessionInfo; notAfter: number }): LoginSession {
    const now = this.#now();
    const { notAfter, ...rest } = fields;
    const masterExpiresAt = Math.min(now + this.#settings.masterSeconds * 1000, notAfter);
    const login: LoginSession = {
      ...rest,
      sessionId: randomInt(1, 2 ** 47),
      lock: new Mutex(),
      token: newToken('ST'),
      tokenExpiresAt: Math.min(now + this.#settings.tokenSeconds * 1000, masterExpiresAt),
      masterToken: newToken('MT'),
      masterExpiresAt,
      lastUsed: now,
      active: 0,
    };
    this.#byToken.set(login.token, login);
    this.#byMaster.set(login.masterToken, login);
    return login;
  }

  /** The session of a session token: 390104 when unknown, 390112 when expired (the driver then renews it). */
  resolve(token: string | null): LoginSession | SnowflakeFailure {
    const login = token ? this.#byToken.get(token) : undefined;
    if (!login) return failures.sessionTokenInvalid();
    const now = this.#now();
    if (login.tokenExpiresAt <= now) return failures.sessionExpired();
    login.lastUsed = now;
    return login;
  }

  /**
   * New session and master tokens for the holder of the master token; the old session token stops working. The master
   * token's expiry stays where login set it (the OIDC token's own expiry at the latest): renewing never extends a login.
   */
  renew(masterToken: string | null, oldSessionToken: string | undefined): LoginSession | SnowflakeFailure {
    const login = masterToken ? this.#byMaster.get(masterToken) : undefined;
    if (!login) return failures.sessionTokenInvalid();
    const now = this.#now();
    if (login.masterExpiresAt <= now) return failures.masterExpired();
    if (oldSessionToken !== undefined && oldSessionToken !== login.token) return failures.sessionTokenInvalid();
    this.#byToken.delete(login.token);
    this.#byMaster.delete(login.masterToken);
    login.token = newToken('ST');
    login.tokenExpiresAt = Math.min(now + this.#settings.tokenSeconds * 1000, login.masterExpiresAt);
    login.masterToken = newToken('MT');
    login.lastUsed = now;
    this.#byToken.set(login.token, login);
    this.#byMaster.set(login.masterToken, login);
    return login;
  }

  remove(login: LoginSession): void {
    this.#byToken.delete(login.token);
    this.#byMaster.delete(login.masterToken);
  }

  /**
   * Returns, once each, the logins whose master token expired: their sessions end now. They stay known for the idle
   * limit, answering 390112 then 390114 (which the driver reads as "authenticate again"), and are dropped after.
   */
  takeExpired(): LoginSession[] {
    const now = this.#now();
    const expired: LoginSession[] = [];
    for (const l of [...this.#byMaster.values()]) {
      if (l.masterExpiresAt > now) continue;
      if (!l.ended) {
        l.ended = true;
        expired.push(l);
      } else if (now - l.masterExpiresAt > this.#settings.idleSeconds * 1000) this.remove(l);
    }
    return expired;
  }

  /** Removes and returns the live sessions idle longer than the limit. */
  takeIdle(): LoginSession[] {
    const now = this.#now();
    const idle = [...this.#byMaster.values()].filter((l) => l.masterExpiresAt > now && l.active === 0 && now - l.lastUsed > this.#settings.idleSeconds * 1000);
    for (const l of idle) this.remove(l);
    return idle;
  }

  takeAll(): LoginSession[] {
    const all = [...this.#byMaster.values()];
    for (const l of all) this.remove(l);
    return all;
  }
}

/** The token of `Authorization: Snowflake Token="…"`. */
export function snowflakeToken(header: string | undefined): string | null {
  const m = /^Snowflake Token="([^"]*)"$/.exec(header ?? '');
  return m?.[1] ? m[1] : null;
}

/** The token of `Authorization: Bearer …`. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1] ?? null;
}
