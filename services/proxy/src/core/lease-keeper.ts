import { credentialV1 } from '@airlock/contracts';
import { newContext, type Bus, type Logger } from '@airlock/runtime';

/** A session whose leases end when it stays idle too long. */
export interface IdleWatched {
  retireIfIdle(now: number): Promise<void>;
}

/**
 * Renews the leases this proxy instance holds; when renewals stop, the credential service revokes them.
 * Also asks every open session once a second to give up its leases if it has been idle past its limit.
 */
export class LeaseKeeper {
  /**
   * held leases, each with what to do if the credential service no longer knows it as live; a hold is an object of its
   * own, so that a lease held again (a standby lease a statement took) is told apart from the hold a heartbeat was for
   */
  readonly #held = new Map<string, { onLost: (() => void) | undefined }>();
  readonly #sessions = new Set<IdleWatched>();
  /** the last heartbeat request sent, settled or not (see `#heartbeat`) */
  #previous: Promise<unknown> = Promise.resolve();
  readonly #timer: NodeJS.Timeout;
  readonly #idleTimer: NodeJS.Timeout;
  readonly #bus: Bus;
  readonly #holder: string;
  readonly #logger: Logger;

  constructor(bus: Bus, holder: string, intervalSeconds: number, logger: Logger) {
    this.#bus = bus;
    this.#holder = holder;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.beat(), intervalSeconds * 1000);
    this.#timer.unref();
    this.#idleTimer = setInterval(() => void this.#retireIdle(), 1000);
    this.#idleTimer.unref();
  }

  watch(session: IdleWatched): void {
    this.#sessions.add(session);
  }

  unwatch(session: IdleWatched): void {
    this.#sessions.delete(session);
  }

  async #retireIdle(): Promise<void> {
    const now = Date.now();
    for (const session of this.#sessions) {
      session.retireIfIdle(now).catch((err: unknown) => this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'retiring an idle session lease failed'));
    }
  }

  hold(leaseId: string, onLost?: () => void): void {
    this.#held.set(leaseId, { onLost });
  }

  release(leaseId: string): void {
    this.#held.delete(leaseId);
  }

  /**
   * Whether the credential service still knows `leaseId` as live (renewing it): false once it was revoked or expired.
   * Rejects when the service cannot tell.
   */
  async live(leaseId: string): Promise<boolean> {
    const { unknown } = await this.#heartbeat([leaseId]);
    return !unknown.includes(leaseId);
  }

  /**
   * One heartbeat request, after the one before it was answered: two heartbeats of this proxy at once renew the same
   * rows, each waiting for the other's (or, against an older credential service, answering them unknown).
   */
  #heartbeat(leaseIds: string[]): Promise<{ unknown: string[] }> {
    const sent = this.#previous.then(() => this.#bus.call(credentialV1.heartbeat, { holder: this.#holder, leaseIds }, newContext(), { timeoutMs: 5000 }));
    this.#previous = sent.catch(() => undefined);
    return sent;
  }

  get size(): number {
    return this.#held.size;
  }

  async beat(): Promise<void> {
    if (this.#held.size === 0) return;
    try {
      const sent = new Map(this.#held);
      const { unknown } = await this.#heartbeat([...sent.keys()]);
      for (const id of unknown) {
        // still the hold the heartbeat was sent for: not released by its own session meanwhile, so it was revoked
        // elsewhere. A lease held anew meanwhile is left to the next heartbeat: the credential service answers a lease
        // locked as its revocation locks it as unknown, and the standby lease a statement takes is locked so while it
        // changes hands, which is no revocation.
        const hold = this.#held.get(id);
        if (hold === undefined || hold !== sent.get(id)) continue;
        this.#held.delete(id);
        hold.onLost?.();
      }
    } catch (err) {
      this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease heartbeat failed');
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#idleTimer);
  }
}
