import { credentialV1, type Analysis, type policyV1, type Principal } from '@airlock/contracts';
import { AirlockError, newContext, type Bus, type CallContext, type Logger } from '@airlock/runtime';
import type { UpstreamConnection, UpstreamEngine } from '../engines/engine.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { STANDBY_GONE, type StandbyConnections } from './standby.js';

/**
 * Per-statement revocations a session may have running when its next statement mints: each lease's upstream is closed
 * before its revocation starts, so none of them can run anything, and the bound keeps a client that sends statements
 * faster than roles are dropped from piling up live credentials.
 */
export const MAX_RELEASING = 2;

/** What a client whose session's credential was revoked is told. */
export const SESSION_REVOKED =
  'Airlock ended this session: its database credential was revoked (by an operator, or because its time ran out). Connect again to continue.';

/** Whether a lease the credential service no longer knows ended before its time: revoked, not expired. */
function revokedEarly(lease: credentialV1.LeaseGrant): boolean {
  return Date.now() < Date.parse(lease.expiresAt) - 1000;
}

/** An upstream session and the lease it runs on. */
export interface Upstream {
  role: string;
  lease: credentialV1.LeaseGrant;
  upstream: UpstreamConnection;
}

export interface LeaseHolderDeps {
  bus: Bus;
  keeper: LeaseKeeper;
  logger: Logger;
  /** this proxy instance: the holder of its leases */
  proxyId: string;
  engine: UpstreamEngine;
  /** connections opened ahead under standby leases: a per-statement lease takes one when there is one */
  standby?: StandbyConnections | undefined;
  session: { id: string; principal: Principal; connection: string };
  /** the session statements to replay on every fresh upstream session, in order */
  settings: readonly string[];
  /** a lease was revoked behind the session's back (an operator, the sweeper) */
  onLost(lease: credentialV1.LeaseGrant): void;
}

/**
 * The session's credentials: leases minted per session (one upstream per role) or per statement, the open
 * transaction's upstream, and their retirement when a statement, the idle limit, a revocation or the session ends.
 */
export class LeaseHolder {
  readonly #deps: LeaseHolderDeps;
  /** per-statement leases being revoked after their statement's reply: bounded while statements run, awaited at close */
  readonly #releasing = new Set<Promise<void>>();
  readonly #upstreams = new Map<string, Upstream>();
  /** the upstream whose transaction is open */
  tx: Upstream | undefined;
  /** a BEGIN received before any upstream existed: replayed on the upstream the next statement uses */
  pendingBegin: string | undefined;
  /** the upstream of the statement running now */
  running: Upstream | undefined;
  /** set when the idle limit ended an open transaction: the client must ROLLBACK before anything else */
  idleEndedTx = false;
  /** set when the open transaction's upstream connection was lost: as after the idle limit, the client must ROLLBACK */
  lostTx = false;

  constructor(deps: LeaseHolderDeps) {
    this.#deps = deps;
  }

  /** 'T' inside a transaction block, 'E' in a failed one, else 'I' */
  get txStatus(): 'I' | 'T' | 'E' {
    if (this.idleEndedTx || this.lostTx) return 'E';
    if (this.tx) return this.tx.upstream.txStatus;
    return this.pendingBegin ? 'T' : 'I';
  }

  /** The upstream session that holds `role` now: the open transaction's, or the per-session lease's. */
  holderOf(role: string): Upstream | undefined {
    return this.tx ?? this.#upstreams.get(role);
  }

  /**
   * The upstream `decision` runs on, ready: the open transaction's, the session's for its role, or a fresh one with
   * the session's settings replayed; with the statement's timeout and a BEGIN kept for it. `seen` learns the
   * upstream as soon as there is one, so a failure after it still retires a per-statement lease.
   */
  async acquire(decision: policyV1.Decision, ctx: CallContext, grant: string | undefined, seen: (entry: Upstream) => void): Promise<Upstream> {
    const scope = decision.scope!;
    if (scope.leaseMode === 'statement' && this.txStatus !== 'I') {
      throw new AirlockError(
        'proxy.transaction_not_allowed',
        'this connection mints a credential per statement, so transactions across statements are not possible; send each statement on its own',
      );
    }
    if (this.tx && this.tx.role !== scope.role) {
      throw new AirlockError(
        'proxy.transaction_not_allowed',
        `this transaction runs with the "${this.tx.role}" role and this statement needs "${scope.role}"; COMMIT or ROLLBACK first, then send it`,
        { sqlState: '25000' },
      );
    }
    let entry = this.tx ?? (scope.leaseMode === 'session' ? this.#upstreams.get(scope.role) : undefined);
    if (entry?.upstream.closed) {
      const lost = entry;
      entry = undefined;
      if (this.#upstreams.get(lost.role) === lost) this.#upstreams.delete(lost.role);
      await this.#replaceLost(lost, ctx);
      if (this.tx === lost) {
        // the server rolled the transaction back: what the client sends in it next must not run on its own
        this.tx = undefined;
        this.lostTx = true;
        this.acceptAfterIdleEnd(undefined, 0);
      }
    }
    if (entry) seen(entry);
    if (!entry || entry.upstream.closed) {
      entry = await this.#mint(decision, ctx, grant);
      seen(entry);
      for (const setting of this.#deps.settings) await entry.upstream.simple(setting);
    }
    await entry.upstream.setTimeout(decision.limits.timeoutMs);
    if (this.pendingBegin) {
      await entry.upstream.simple(this.pendingBegin);
      this.pendingBegin = undefined;
    }
    this.running = entry;
    return entry;
  }

  /**
   * Transaction control that needs no credential of its own: inside an upstream transaction it runs there; before
   * any upstream exists BEGIN is kept for the next statement's upstream and COMMIT or ROLLBACK forget it.
   */
  control(verb: Analysis['transaction'], sql: string, chain = false): { run: Promise<void>; tag: string; leaseId: string | null } {
    const tags = { begin: 'BEGIN', commit: 'COMMIT', rollback: 'ROLLBACK' } as const;
    const tag = verb === 'begin' || verb === 'commit' || verb === 'rollback' ? tags[verb] : undefined;
    if (verb === undefined || verb === 'prepared') {
      // only what policy classified as BEGIN, COMMIT, ROLLBACK or a savepoint runs here: a prepared transaction would
      // outlive the session and its credential, and anything else has no decision of its own to run under
      throw new AirlockError(
        'proxy.transaction_not_allowed',
        'Airlock runs BEGIN, COMMIT, ROLLBACK and savepoints; two-phase commit (PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED) is not possible through it',
        { sqlState: '25000' },
      );
    }
    if (this.tx) {
      // an upstream transaction is open: it must see its own COMMIT/ROLLBACK
      const entry = this.tx;
      const run = (async () => {
        await entry.upstream.simple(sql);
        this.tx = entry.upstream.txStatus === 'I' ? undefined : entry;
      })();
      return { run, tag: tag ?? sql.trim().split(/\s+/)[0]!.toUpperCase(), leaseId: entry.lease.leaseId };
    }
    if (tag === undefined) {
      throw new AirlockError('proxy.transaction_not_allowed', 'no transaction is open on this session; savepoints need a statement inside BEGIN first', { sqlState: '25P01' });
    }
    if (chain && verb !== 'begin') {
      // AND CHAIN starts the next transaction like the one it ends: the kept BEGIN stays for the next statement
      if (this.pendingBegin === undefined) {
        throw new AirlockError('proxy.transaction_not_allowed', `${tag} AND CHAIN can only be used in transaction blocks`, { sqlState: '25P01' });
      }
      return { run: Promise.resolve(), tag, leaseId: null };
    }
    this.pendingBegin = verb === 'begin' ? sql : undefined;
    return { run: Promise.resolve(), tag, leaseId: null };
  }

  /** After a statement: the transaction is the statement's upstream's while it has one open. */
  afterStatement(entry: Upstream, completed: boolean): void {
    const status = entry.upstream.txStatus;
    if (status === 'I') this.tx = undefined;
    else if (completed) this.tx ??= status === 'T' ? entry : undefined;
  }

  /**
   * An upstream connection found closed. Its lease revoked behind the session's back (an operator, the sweeper, which
   * end its backends too) ends the session, as the keeper's next heartbeat would: the statement is refused, never run
   * on a fresh credential. A connection lost otherwise (the server or the network ended it, or a read that would not
   * stop gave it up) has its lease revoked now, not left heartbeated for as long as the proxy runs, and the statement
   * takes a fresh one.
   */
  async #replaceLost(lost: Upstream, ctx: CallContext): Promise<void> {
    const { keeper } = this.#deps;
    let live: boolean;
    try {
      live = await keeper.live(lost.lease.leaseId);
    } catch (err) {
      await this.retire(lost, 'connection-lost', ctx);
      throw err;
    }
    if (live) return this.retire(lost, 'connection-lost', ctx);
    keeper.release(lost.lease.leaseId);
    // a lease that reached its maximum lifetime is not a revocation: the statement takes a fresh one
    if (!revokedEarly(lost.lease)) return;
    this.#deps.onLost(lost.lease);
    throw new AirlockError('proxy.session_ended', SESSION_REVOKED, { sqlState: '57P01' });
  }

  async #mint(decision: policyV1.Decision, ctx: CallContext, grant: string | undefined): Promise<Upstream> {
    const { bus, keeper, engine, session, proxyId } = this.#deps;
    const scope = decision.scope!;
    const request = {
      requestId: ctx.requestId,
      sessionId: session.id,
      connection: session.connection,
      principal: session.principal,
      scope,
      holder: proxyId,
      ...(decision.token ? { decision: decision.token } : {}),
      ...(grant ? { grant } : {}),
    };
    const standby = scope.leaseMode === 'statement' ? this.#deps.standby?.take(session.connection) : undefined;
    if (standby) {
      // the lease takes the standby credential, whose connection is open already: the credential service only grants
      // it the statement's role
      try {
        const lease = await bus.call(credentialV1.issueLease, { ...request, standby: standby.lease.leaseId }, ctx, { timeoutMs: 20_000 });
        keeper.hold(lease.leaseId, () => this.#deps.onLost(lease));
        return { role: scope.role, lease, upstream: standby.upstream };
      } catch (err) {
        // spent either way: its connection closes and its lease (standby, or the statement's) is revoked
        await standby.upstream.close().catch(() => undefined);
        await this.#revoke(standby.lease.leaseId, 'standby-unused', ctx);
        if (!(err instanceof AirlockError && err.code === STANDBY_GONE)) throw err;
      }
    }
    const lease = await bus.call(credentialV1.issueLease, request, ctx, { timeoutMs: 20_000 });
    // revoked behind the session's back (an operator, the sweeper): the session ends, it does not quietly re-mint
    keeper.hold(lease.leaseId, () => this.#deps.onLost(lease));
    let upstream: UpstreamConnection;
    try {
      upstream = await bus.tracing.run('connect', ctx, {}, () =>
        engine.connect(lease, { applicationName: `airlock:${session.principal.subject}`, timeoutMs: decision.limits.timeoutMs }),
      );
    } catch (err) {
      await this.#revoke(lease.leaseId, 'connect-failed', ctx);
      throw err;
    }
    const entry: Upstream = { role: scope.role, lease, upstream };
    if (scope.leaseMode === 'session') this.#upstreams.set(scope.role, entry);
    return entry;
  }

  /** `ctx` is the statement's when its per-statement lease ends, so the revocation joins the statement's trace */
  async retire(entry: Upstream, reason: string, ctx: CallContext = newContext()): Promise<void> {
    await entry.upstream.close();
    await this.#revoke(entry.lease.leaseId, reason, ctx);
  }

  /**
   * Retires a per-statement lease after its statement's reply went out: its upstream is closed at once, and neither the
   * client nor the session's next statement waits for the revocation (up to `MAX_RELEASING` at a time, see
   * `roomToMint`); the session's close does (`released`). A revocation that fails is the sweeper's: the lease is no
   * longer heartbeated.
   */
  releaseAfterReply(entry: Upstream, ctx: CallContext): Promise<void> {
    const released = this.retire(entry, 'statement-complete', ctx).catch((err: unknown) => {
      // the revocation itself logs and leaves a failed call to the sweeper; this is the upstream's close failing
      this.#deps.logger.warn({ leaseId: entry.lease.leaseId, err: err instanceof Error ? err.message : String(err) }, 'retiring a per-statement lease failed');
    });
    this.#releasing.add(released);
    void released.finally(() => this.#releasing.delete(released));
    return released;
  }

  /** Resolves once fewer than `MAX_RELEASING` per-statement leases are still being revoked. */
  async roomToMint(): Promise<void> {
    while (this.#releasing.size >= MAX_RELEASING) await Promise.race([...this.#releasing]);
  }

  /** Resolves once every per-statement lease released after its reply is revoked (or left to the sweeper). */
  async released(): Promise<void> {
    while (this.#releasing.size > 0) await Promise.all([...this.#releasing]);
  }

  /**
   * After the idle limit ended a transaction (or its connection was lost), only its COMMIT or ROLLBACK is accepted
   * (and answered ROLLBACK): throws for anything else, and clears the mark for those.
   */
  acceptAfterIdleEnd(verb: Analysis['transaction'], idleSeconds: number): void {
    if (verb !== 'commit' && verb !== 'rollback') {
      throw new AirlockError(
        'proxy.transaction_not_allowed',
        this.lostTx
          ? 'the open transaction was rolled back: its database connection was lost (the server ended it or the network failed); send ROLLBACK, then start again'
          : `the open transaction was rolled back and its credential revoked because the session was idle for more than ${idleSeconds} s; send ROLLBACK, then start again`,
        { sqlState: '25P02' },
      );
    }
    this.idleEndedTx = false;
    this.lostTx = false;
  }

  async #revoke(leaseId: string, reason: string, ctx: CallContext): Promise<void> {
    // released first: a heartbeat racing this revocation must not read it as revoked behind the session's back
    this.#deps.keeper.release(leaseId);
    try {
      await this.#deps.bus.call(credentialV1.revokeLease, { leaseId, reason }, ctx, { timeoutMs: 30_000 });
    } catch (err) {
      // the credential service's sweeper revokes it: its heartbeats have stopped
      this.#deps.logger.warn({ leaseId, err: err instanceof Error ? err.message : String(err) }, 'revoking a lease failed; the sweeper will revoke it');
    }
  }

  /** Whether any upstream session is held. */
  get holding(): boolean {
    return this.#upstreams.size > 0 || this.tx !== undefined;
  }

  /**
   * Closes every upstream and revokes every lease. `idle`: the idle limit ends an open transaction with them, and
   * the client must ROLLBACK before anything else.
   */
  async retireAll(reason: string, idle = false): Promise<void> {
    // a per-statement lease whose statement still runs (cancelled by a closing session) is revoked here too: its own
    // release comes only once its failure is recorded, which may be after the session and the proxy have closed
    const entries = [...new Set([...this.#upstreams.values(), ...(this.tx ? [this.tx] : []), ...(this.running ? [this.running] : [])])];
    if (idle && this.tx) this.idleEndedTx = true;
    this.#upstreams.clear();
    this.tx = undefined;
    await Promise.all(entries.map((e) => this.retire(e, reason)));
  }

  /**
   * A lease the credential service no longer knows: true when the session must end (it was revoked); a lease that
   * reached its maximum lifetime only loses its upstream, and the session's next statement mints a fresh one.
   */
  async lost(lease: credentialV1.LeaseGrant): Promise<boolean> {
    if (revokedEarly(lease)) return true;
    for (const [role, entry] of this.#upstreams) {
      if (entry.lease.leaseId !== lease.leaseId) continue;
      this.#upstreams.delete(role);
      if (this.tx === entry) this.tx = undefined;
      await entry.upstream.close().catch(() => undefined);
    }
    return false;
  }
}
