import type { AirlockConfig } from '@airlock/config';
import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import { Session, type ActiveStatement, type OpenHooks } from './session.js';

/** `proxy.limits` with every default applied: what a stranger may hold before login, and a principal after. */
export interface Limits {
  authTimeoutMs: number;
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
  maxStartupBytes: number;
  maxLoginBodyBytes: number;
  maxBodyBytes: number;
  sessionsPerPrincipal: number;
  statementsPerPrincipal: number;
}

export const defaultLimits = {
  authTimeoutSeconds: 10,
  maxUnauthenticated: 512,
  maxUnauthenticatedPerAddress: 64,
  maxStartupBytes: 16 * 1024,
  maxLoginBodyBytes: 64 * 1024,
  maxBodyBytes: 16 * 1024 * 1024,
  sessionsPerPrincipal: 20,
  statementsPerPrincipal: 20,
} as const;

export function resolveLimits(config: AirlockConfig): Limits {
  const l = config.proxy?.limits ?? {};
  return {
    authTimeoutMs: (l.authTimeoutSeconds ?? defaultLimits.authTimeoutSeconds) * 1000,
    maxUnauthenticated: l.maxUnauthenticated ?? defaultLimits.maxUnauthenticated,
    maxUnauthenticatedPerAddress: l.maxUnauthenticatedPerAddress ?? defaultLimits.maxUnauthenticatedPerAddress,
    maxStartupBytes: l.maxStartupBytes ?? defaultLimits.maxStartupBytes,
    maxLoginBodyBytes: l.maxLoginBodyBytes ?? defaultLimits.maxLoginBodyBytes,
    maxBodyBytes: l.maxBodyBytes ?? defaultLimits.maxBodyBytes,
    sessionsPerPrincipal: l.sessionsPerPrincipal ?? defaultLimits.sessionsPerPrincipal,
    statementsPerPrincipal: l.statementsPerPrincipal ?? defaultLimits.statementsPerPrincipal,
  };
}

const principalKey = (p: Principal) => `${p.issuer}\u0000${p.subject}`;

/**
 * Counts what each principal holds on this proxy instance, sessions and statements in flight, and refuses the one
 * over its limit with a message that names the limit and the key that raises it.
 */
export class PrincipalLimits {
  readonly #limits: Pick<Limits, 'sessionsPerPrincipal' | 'statementsPerPrincipal'>;
  readonly #sessions = new Map<string, number>();
  readonly #statements = new Map<string, number>();

  constructor(limits: Pick<Limits, 'sessionsPerPrincipal' | 'statementsPerPrincipal'>) {
    this.#limits = limits;
  }

  /** A session slot for `principal`, released by the function returned (once, however often it is called). */
  takeSession(principal: Principal): () => void {
    return this.#take(this.#sessions, principal, this.#limits.sessionsPerPrincipal, (n) =>
      `Airlock refused this session: ${principal.subject} already has ${n} open sessions on this proxy, the most one principal may hold (proxy.limits.sessionsPerPrincipal); close one, or ask the operator to raise proxy.limits.sessionsPerPrincipal`,
    );
  }

  /** A statement slot for `principal`, released by the function returned. */
  takeStatement(principal: Principal): () => void {
    return this.#take(this.#statements, principal, this.#limits.statementsPerPrincipal, (n) =>
      `Airlock refused this statement: ${principal.subject} already has ${n} statements running on this proxy, the most one principal may run at once (proxy.limits.statementsPerPrincipal); wait for one to finish, or ask the operator to raise proxy.limits.statementsPerPrincipal`,
    );
  }

  #take(counts: Map<string, number>, principal: Principal, limit: number, refusal: (n: number) => string): () => void {
    const key = principalKey(principal);
    const n = counts.get(key) ?? 0;
    if (n >= limit) throw new AirlockError('proxy.limit_reached', refusal(n), { sqlState: '53300' });
    counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(key) ?? 1) - 1;
      if (left <= 0) counts.delete(key);
      else counts.set(key, left);
    };
  }
}

/** A session that holds one of its principal's session slots until it closes, and a statement slot per statement in flight. */
export class LimitedSession extends Session {
  readonly #limits: PrincipalLimits;
  readonly #release: () => void;
  /** the statement slots this session holds: all go back when it closes, whatever its client left open */
  readonly #statementSlots = new Set<() => void>();

  constructor(limits: PrincipalLimits, release: () => void, ...args: ConstructorParameters<typeof Session>) {
    super(...args);
    this.#limits = limits;
    this.#release = release;
  }

  override async open(sql: string, params: Array<string | null>, hooks?: OpenHooks): Promise<ActiveStatement> {
    const slot = this.#limits.takeStatement(this.principal);
    const release = () => {
      slot();
      this.#statementSlots.delete(release);
    };
    this.#statementSlots.add(release);
    let active: ActiveStatement;
    try {
      active = await super.open(sql, params, hooks);
    } catch (err) {
      release();
      throw err;
    }
    const { read, readWire, close, fail } = active;
    const released = async <B extends { done: boolean }>(batch: Promise<B>): Promise<B> => {
      try {
        const b = await batch;
        if (b.done) release();
        return b;
      } catch (err) {
        release();
        throw err;
      }
    };
    active.read = (max) => released(read.call(active, max));
    if (readWire) active.readWire = (max) => released(readWire.call(active, max));
    active.close = async () => {
      release();
      await close.call(active);
    };
    active.fail = (err) => {
      release();
      return fail.call(active, err);
    };
    return active;
  }

  override async close(reason: string): Promise<void> {
    try {
      await super.close(reason);
    } finally {
      for (const release of [...this.#statementSlots]) release();
      this.#release();
    }
  }
}
