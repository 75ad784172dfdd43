import { randomUUID } from 'node:crypto';
import type { credentialV1, policyV1, Principal, proxyV1 } from '@airlock/contracts';
import { AirlockError, SpanKind, newContext } from '@airlock/runtime';
import { globMatch } from '@airlock/config';
import type { UpstreamPortal } from '../engines/engine.js';
import { onlyReads, SessionAudit } from './audit.js';
import { Gate, type OpenHooks } from './gate.js';
import { LeaseHolder, SESSION_REVOKED, type Upstream } from './lease-holder.js';
import type { ProxyContext } from './proxy-context.js';
import { ResultPipe, type ActiveStatement, type Run, type StatementEnds } from './result-pipe.js';

export { clientQueryTag, type OpenHooks } from './gate.js';
export type { ActiveStatement, ProxyMetrics } from './result-pipe.js';
export type { ProxyContext } from './proxy-context.js';

/** How often a client's cancel request is sent upstream while its statement still runs (after 0, 0.25, 0.5, 1, 2 s). */
const CANCEL_ATTEMPTS = 5;

/**
 * A client session on one connection, coordinating its parts: every statement passes the gate (policy, approval),
 * runs on an upstream the lease holder provides (per session or per statement), comes back through the result pipe
 * (masked, counted, recorded), and the audit hears the session's whole life. Leases are revoked when it ends.
 */
export class Session {
  readonly id: string;
  readonly principal: Principal;
  readonly connection: string;
  readonly #ctx: ProxyContext;
  readonly #frontend: proxyV1.Frontend;
  readonly #gate: Gate;
  readonly #leases: LeaseHolder;
  readonly #pipe: ResultPipe;
  readonly #audit: SessionAudit;
  #closed = false;
  readonly #terminateListeners: Array<(message: string) => void> = [];
  /** statements between their arrival and their upstream start: the session is not idle while any is */
  #opening = 0;
  #lastActive = Date.now();
  /** statements opened so far: a cancel repeated for one statement never reaches the next */
  #statementsOpened = 0;
  readonly #idleMs: number;

  /** `id` lets a front door use the session id before the session exists (the token check is recorded under it) */
  constructor(ctx: ProxyContext, principal: Principal, connection: string, frontend: proxyV1.Frontend, client: string | undefined, id: string = randomUUID()) {
    const settings = ctx.config.connections[connection];
    const engine = settings?.type ? ctx.engines[settings.type] : undefined;
    if (!engine) throw new AirlockError('policy.unknown_connection', `connection "${connection}" cannot be served by this proxy`);
    this.id = id;
    this.principal = principal;
    this.connection = connection;
    this.#ctx = ctx;
    this.#frontend = frontend;
    this.#idleMs = (settings?.leases?.idleSeconds ?? 900) * 1000;
    const session = { id, principal, connection, frontend };
    const leases = { holderOf: (role: string) => this.#leases.holderOf(role) };
    this.#gate = new Gate({ ...ctx, holdMs: (ctx.config.approval?.holdSeconds ?? 30) * 1000, session, leases });
    this.#leases = new LeaseHolder({ ...ctx, engine, session, settings: this.#gate.settings, onLost: (lease) => void this.#credentialLost(lease) });
    this.#audit = new SessionAudit(ctx.events, id, connection, ctx.config.audit?.metadataReads);
    this.#pipe = new ResultPipe({ ...ctx, tracing: ctx.bus.tracing, metrics: ctx.metrics, connection, recording: settings?.recording, audit: this.#audit });
    ctx.keeper.watch(this);
    this.#audit.onSessionStart({ principal, frontend, client, proxy: ctx.proxyId });
  }

  /** 'T' inside a transaction block, 'E' in a failed one, else 'I' */
  get txStatus(): 'I' | 'T' | 'E' {
    return this.#leases.txStatus;
  }

  async open(sql: string, params: Array<string | null>, hooks: OpenHooks = {}): Promise<ActiveStatement> {
    if (this.#closed) {
      throw new AirlockError('proxy.session_ended', 'this session has ended (its credential was revoked or it was closed); connect again', { sqlState: '57P01' });
    }
    const requestId = randomUUID();
    // the statement's root span: policy, approval, credential and upstream steps hang under it, in every service
    const statement = this.#ctx.bus.tracing.start('statement', newContext(requestId), {
      kind: SpanKind.SERVER,
      attributes: { 'airlock.connection': this.connection, 'airlock.frontend': this.#frontend },
    });
    this.#pipe.track(requestId, statement);
    const run: Run = { requestId, ctx: statement.ctx, started: performance.now(), leaseId: null };
    this.#audit.onStatement();
    this.#lastActive = Date.now();
    this.#opening += 1;
    this.#statementsOpened += 1;
    let decision: policyV1.Decision | undefined;
    let entry: Upstream | undefined;
    const leases = this.#leases;
    try {
      decision = await this.#gate.decide(sql, params, requestId, run.ctx);
      if (leases.idleEndedTx || leases.lostTx) {
        leases.acceptAfterIdleEnd(decision.analysis?.transaction, this.#idleMs / 1000);
        return this.#pipe.deferred(run, Promise.resolve(), 'ROLLBACK');
      }
      const passage = await this.#gate.admit(decision, sql, params, statement, hooks);
      decision = passage.decision;
      // the previous statements' per-statement leases are revoked while this one runs, a bounded number at a time
      // (their upstreams are closed already); a session that ended while waiting mints nothing
      await leases.roomToMint();
      if (this.#closed) throw new AirlockError('proxy.session_ended', 'this session has ended (its credential was revoked or it was closed); connect again', { sqlState: '57P01' });
      if (!decision.scope) {
        const { run: done, tag, leaseId } = leases.control(decision.analysis?.transaction, sql, decision.analysis?.chain === true);
        return this.#pipe.deferred({ ...run, leaseId }, done, tag, decision);
      }
      entry = await leases.acquire(decision, run.ctx, passage.grant, (e) => {
        entry = e;
        run.leaseId = e.lease.leaseId;
      });
      this.#audit.onQuery(requestId, entry.lease.leaseId, decision, run.ctx, this.#gate.reusedFrom(decision));
      const portal = await this.#execute(sql, params, decision, entry, run);
      return this.#pipe.stream(run, portal, decision, this.#ends(decision, entry, run));
    } catch (err) {
      leases.running = undefined;
      if (entry && decision?.scope?.leaseMode === 'statement') await leases.retire(entry, 'statement-complete', run.ctx);
      const e = await this.#pipe.failed(run, err, decision);
      // keep what the refusal said (approval id, rule) for front doors that show it in their own shape
      const details = err instanceof AirlockError ? err.details : undefined;
      throw new AirlockError(e.code, e.message, {
        ...details,
        sqlState: e.sqlState,
        ...(e.hint ? { hint: e.hint } : {}),
        ...(e.snowflakeCode ? { snowflakeCode: e.snowflakeCode } : {}),
        requestId,
      });
    } finally {
      this.#opening -= 1;
      this.#lastActive = Date.now();
    }
  }

  /** Opens the statement upstream, tagged with who runs it under which lease (and the client's own tag). */
  async #execute(sql: string, params: Array<string | null>, decision: policyV1.Decision, entry: Upstream, run: Run): Promise<UpstreamPortal> {
    const upstream = entry.upstream;
    const clientTag = this.#gate.clientTag;
    const airlock = { subject: this.principal.subject, requestId: run.requestId, leaseId: entry.lease.leaseId, session: this.id };
    try {
      const queryTag = JSON.stringify({ airlock, ...(clientTag === undefined ? {} : { client: clientTag }) });
      const read = onlyReads(decision) && !callsAllowedFunction(decision, this.#ctx.config.guardrails?.allowFunctions);
      const portal = await this.#ctx.bus.tracing.run('execute', run.ctx, {}, () => upstream.open(sql, params, { queryTag, read }));
      if (decision.rule === 'builtin:session') this.#gate.remember(sql, decision.analysis?.kind);
      return portal;
    } finally {
      this.#leases.tx = upstream.txStatus === 'I' ? undefined : entry;
    }
  }

  /** What a streaming statement's end does to the session: its transaction, named statements and per-statement lease. */
  #ends(decision: policyV1.Decision, entry: Upstream, run: Run): StatementEnds {
    return {
      ended: (how, tag) => {
        this.#leases.running = undefined;
        if (how === 'abandoned') return;
        this.#lastActive = Date.now();
        this.#leases.afterStatement(entry, how === 'completed');
        if (how === 'completed') this.#gate.confirm(decision, entry.upstream, tag);
      },
      release: () => (decision.scope?.leaseMode === 'statement' ? this.#leases.releaseAfterReply(entry, run.ctx) : Promise.resolve()),
    };
  }

  /**
   * Cancels the statement running upstream, if any (client cancel request or disconnect). PostgreSQL drops a cancel
   * that arrives while the backend is still reading the statement's messages (between Parse and Execute it checks for
   * a cancel only when it reads the next message, and discards it there), which a loaded server makes a wide window:
   * while the same statement still runs, the cancel is sent again, a few times, spaced out.
   */
  async cancel(): Promise<void> {
    const running = this.#leases.running;
    const statement = this.#statementsOpened;
    const same = () => this.#leases.running === running && this.#statementsOpened === statement && running !== undefined && !running.upstream.closed;
    if (!same()) return;
    await running!.upstream.cancel();
    // the caller (a disconnect, a cancel request) does not wait for the repeats
    void (async () => {
      for (let attempt = 1; attempt < CANCEL_ATTEMPTS; attempt++) {
        await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
        if (!same()) return;
        await running!.upstream.cancel();
      }
    })();
  }

  /**
   * Revokes the session's leases once it has been idle past the connection's limit (`leases.idleSeconds`), so an
   * abandoned session holds no credential; the session stays open and its next statement mints a new lease.
   */
  async retireIfIdle(now: number): Promise<void> {
    if (this.#closed || this.#leases.running || this.#opening > 0 || now - this.#lastActive < this.#idleMs) return;
    if (this.#leases.holding) await this.#leases.retireAll('idle-timeout', true);
  }

  /** Called once the front door's client must be told the session is over (its credential was revoked elsewhere). */
  onTerminate(listener: (message: string) => void): void {
    this.#terminateListeners.push(listener);
  }

  async #credentialLost(lease: credentialV1.LeaseGrant): Promise<void> {
    if (this.#closed || !(await this.#leases.lost(lease))) return;
    const message = SESSION_REVOKED;
    for (const l of this.#terminateListeners.splice(0)) l(message);
    await this.close('credential-revoked');
  }

  /** Ends the session: cancels what runs, closes upstream connections, revokes every lease, records the end. */
  async close(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#gate.close();
    this.#ctx.keeper.unwatch(this);
    await this.#leases.running?.upstream.cancel().catch(() => undefined);
    await this.#leases.released();
    await this.#leases.retireAll(reason);
    this.#pipe.endAll();
    this.#audit.onSessionEnd(reason);
  }
}

/**
 * Whether the statement calls a function that only `guardrails.allowFunctions` lets through (a user-defined one, or
 * one whose class policy refuses: side effects, session state): what it does is not known, so the statement is not a
 * read that stopping early may cancel, which would roll back what it did behind a client told it ended.
 */
function callsAllowedFunction(decision: policyV1.Decision, allow: readonly string[] | undefined): boolean {
  if (!allow || allow.length === 0) return false;
  return (decision.analysis?.functions ?? []).some((called) => {
    const name = called.toLowerCase();
    const bare = name.slice(name.lastIndexOf('.') + 1);
    return allow.some((glob) => globMatch(glob, name) || globMatch(glob, bare));
  });
}
