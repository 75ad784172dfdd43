/**
 * Live sessions, held in memory by token. A session the account ended (user disabled or dropped) is remembered as
 * "gone" so that its next request gets Snowflake's 390111 rather than the 390104 of a token never issued.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { sfErrors } from './errors.js';
import type { SessionState } from './commands.js';

export interface Session extends SessionState {
  id: string;
  token: string;
  masterToken: string;
  tokenExpiresAt: number;
  masterExpiresAt: number;
  /** The user's own QUERY_TAG (ALTER USER … SET QUERY_TAG), below the session's. */
  userQueryTag: string | null;
}

export interface SessionValidity {
  sessionSeconds: number;
  masterSeconds: number;
}

function newToken(kind: 'ST' | 'MT'): string {
  return `sfemu-${kind}-${randomBytes(32).toString('base64url')}`;
}

export class SessionRegistry {
  private readonly byToken = new Map<string, Session>();
  private readonly byMaster = new Map<string, Session>();
  /** Tokens of sessions ended by the account, with the time after which they may be forgotten. */
  private readonly gone = new Map<string, number>();
  private nextId = BigInt(randomInt(1_000_000, 9_000_000)) * 1_000_000n;

  constructor(private readonly validity: SessionValidity) {}

  create(state: SessionState, userQueryTag: string | null): Session {
    const now = Date.now();
    const session: Session = {
      ...state,
      id: String(this.nextId++),
      token: newToken('ST'),
      masterToken: newToken('MT'),
      tokenExpiresAt: now + this.validity.sessionSeconds * 1000,
      masterExpiresAt: now + this.validity.masterSeconds * 1000,
      userQueryTag,
    };
    this.byToken.set(session.token, session);
    this.byMaster.set(session.masterToken, session);
    return session;
  }

  /** The session for a session token, or the Snowflake error the driver expects for a dead one. */
  resolve(token: string | null): Session {
    this.sweep();
    if (!token) throw sfErrors.sessionTokenInvalid();
    const session = this.byToken.get(token);
    if (!session) throw this.gone.has(token) ? sfErrors.sessionGone() : sfErrors.sessionTokenInvalid();
    if (Date.now() > session.tokenExpiresAt) throw sfErrors.sessionExpired();
    return session;
  }

  /** Token renewal with the master token: a new session token, the old one stops working. */
  renew(masterToken: string | null): Session {
    this.sweep();
    const session = masterToken ? this.byMaster.get(masterToken) : undefined;
    if (!session) throw masterToken && this.gone.has(masterToken) ? sfErrors.sessionGone() : sfErrors.masterExpired();
    if (Date.now() > session.masterExpiresAt) throw sfErrors.masterExpired();
    this.byToken.delete(session.token);
    session.token = newToken('ST');
    session.tokenExpiresAt = Date.now() + this.validity.sessionSeconds * 1000;
    this.byToken.set(session.token, session);
    return session;
  }

  close(session: Session): void {
    this.byToken.delete(session.token);
    this.byMaster.delete(session.masterToken);
  }

  /** End a user's sessions (disable, drop); returns how many were live. */
  endUser(user: string): number {
    let n = 0;
    for (const s of [...this.byMaster.values()]) {
      if (s.user !== user) continue;
      this.close(s);
      this.gone.set(s.token, s.masterExpiresAt);
      this.gone.set(s.masterToken, s.masterExpiresAt);
      n++;
    }
    return n;
  }

  /** End one session by id (SYSTEM$ABORT_SESSION); its tokens then answer 390111. */
  endById(id: string): Session | undefined {
    const s = [...this.byMaster.values()].find((x) => x.id === id);
    if (!s) return undefined;
    this.close(s);
    this.gone.set(s.token, s.masterExpiresAt);
    this.gone.set(s.masterToken, s.masterExpiresAt);
    return s;
  }

  /** The live session with this id, if any. */
  byId(id: string): Session | undefined {
    return [...this.byMaster.values()].find((x) => x.id === id);
  }

  list(): Session[] {
    this.sweep();
    return [...this.byMaster.values()];
  }

  clear(): void {
    this.byToken.clear();
    this.byMaster.clear();
    this.gone.clear();
  }

  /** Forget sessions whose master token expired; bounded memory for a long-running emulator. */
  private sweep(): void {
    const now = Date.now();
    for (const [t, until] of this.gone) if (until < now) this.gone.delete(t);
    for (const s of [...this.byMaster.values()]) if (s.masterExpiresAt < now) this.close(s);
  }
}
