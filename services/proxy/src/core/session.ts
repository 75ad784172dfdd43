import { randomUUID } from 'node:crypto';
import type { AirlockConfig } from '@airlock/config';
import {
  approvalV1,
  credentialV1,
  policyV1,
  proxyV1,
  type MaskingPlan,
  type Principal,
} from '@airlock/contracts';
import { createMasker, type Masker } from '@airlock/masking';
import { AirlockError, SpanKind, digest, newContext, type ActiveSpan, type Bus, type CallContext, type Counter, type Histogram, type Logger, type TrustedKeys } from '@airlock/runtime';
import type { ColumnInfo, UpstreamConnection, UpstreamEngine, UpstreamPortal } from '../engines/engine.js';
import { classify, forStatement, type ClientError } from './errors.js';
import type { EventPublisher } from '@airlock/runtime';
import type { LeaseKeeper } from './lease-keeper.js';

/** What the proxy counts about statements. */
export interface ProxyMetrics {
  /** from policy call to last row (and the per-statement lease's revocation), by connection and outcome */
  statementSeconds: Histogram<'connection' | 'outcome'>;
  maskedCells: Counter<'connection'>;
}

export interface ProxyContext {
  bus: Bus;
  metrics?: ProxyMetrics;
  config: AirlockConfig;
  logger: Logger;
  events: EventPublisher;
  keeper: LeaseKeeper;
  /** this proxy instance: the holder of its leases */
  proxyId: string;
  hashKey: string;
  /** how to reach each kind of upstream */
  engines: Partial<Record<'postgres' | 'snowflake', UpstreamEngine>>;
  /** the policy service's public keys: a decision is acted on only when its signature and claims hold */
  decisions: TrustedKeys;
}

interface Upstream {
  role: string;
  lease: credentialV1.LeaseGrant;
  upstream: UpstreamConnection;
}

/** How a front door takes part in a statement's life: what to tell the client while it is held for approval. */
export interface OpenHooks {
  /** called once when the statement is held: the client may be told at once (a PostgreSQL NoticeResponse) */
  onHold?(approvalId: string, message: string): void;
  /** how long to hold before answering "pending"; the config's approval.holdSeconds by default, 0 answers at once */
  holdMs?: number;
  /** the agent's reason, shown to approvers */
  justification?: string;
}

/** One statement in flight: rows come out masked and counted; completion and failure are recorded once. */
export interface ActiveStatement {
  readonly requestId: string;
  readonly columns: ColumnInfo[] | null;
  read(max: number): Promise<{ rows: Array<Array<string | null>>; done: boolean; tag: string | undefined }>;
  /** the client stopped early (closed the portal, disconnected) */
  close(): Promise<void>;
  /** records a failure seen by the front door while sending */
  fail(err: unknown): ClientError;
}

const txVerb = (sql: string): 'begin' | 'commit' | 'rollback' | 'other' => {
  const m = /^\s*(\w+)(\s+to\b)?/i.exec(sql);
  const w = m?.[1]?.toLowerCase();
  if (w === 'begin' || w === 'start') return 'begin';
  if (w === 'commit' || w === 'end') return 'commit';
  if ((w === 'rollback' || w === 'abort') && !m?.[2]) return 'rollback';
  return 'other';
};

/**
 * A client session on a PostgreSQL connection: every statement goes through policy, runs under a lease minted
 * for this session (or this statement), and comes back masked. Leases are revoked when the session ends.
 */
export class Session {
  readonly id: string;
  readonly principal: Principal;
  readonly connection: string;
  readonly #engine: UpstreamEngine;
  readonly #ctx: ProxyContext;
  readonly #frontend: proxyV1.Frontend;
  readonly #upstreams = new Map<string, Upstream>();
  /** each open statement's root span, by request id, until it settles */
  readonly #spans = new Map<string, ActiveSpan>();
  #tx: Upstream | undefined;
  #pendingBegin: string | undefined;
  #statements = 0;
  /** metadata reads counted instead of recorded one by one (`audit.metadataReads: summary`) */
  #metadataReads = 0;
  #running: Upstream | undefined;
  #closed = false;
  readonly #terminateListeners: Array<(message: string) => void> = [];
  /** statements between their arrival and their upstream start: the session is not idle while any is */
  #opening = 0;
  #lastActive = Date.now();
  readonly #idleMs: number;
  /** set when the idle limit ended an open transaction: the client must ROLLBACK before anything else */
  #idleEndedTx = false;
  /**
   * The session statements the policy let through (`USE …`, `ALTER SESSION …`), in order: each fresh upstream session
   * (a per-statement lease, a new role) replays them, so a client's settings outlive the credential they were set on.
   */
  readonly #settings: string[] = [];
  /** the client's own QUERY_TAG, kept beside Airlock's attribution in the tag of every statement */
  #clientTag: string | undefined;
  /**
   * What PREPARE and DECLARE … CURSOR were decided as, by `prepare:<name>` and `cursor:<name>`: EXECUTE and FETCH run
   * on the same upstream session with that decision's role and masking plan.
   */
  readonly #named = new Map<string, { decision: policyV1.Decision; upstream: UpstreamConnection }>();

  /** `id` lets a front door use the session id before the session exists (the token check is recorded under it) */
  constructor(ctx: ProxyContext, principal: Principal, connection: string, frontend: proxyV1.Frontend, client: string | undefined, id: string = randomUUID()) {
    this.id = id;
    this.#ctx = ctx;
    const type = ctx.config.connections[connection]?.type;
    const engine = type ? ctx.engines[type] : undefined;
    if (!engine) throw new AirlockError('policy.unknown_connection', `connection "${connection}" cannot be served by this proxy`);
    this.#engine = engine;
    this.principal = principal;
    this.connection = connection;
    this.#frontend = frontend;
    this.#idleMs = (ctx.config.connections[connection]?.leases?.idleSeconds ?? 900) * 1000;
    ctx.keeper.watch(this);
    ctx.events.emit(proxyV1.sessionOpened, {
      sessionId: this.id,
      principal,
      connection,
      frontend,
      ...(client ? { client } : {}),
      proxy: ctx.proxyId,
    });
  }

  /** 'T' inside a transaction block, 'E' in a failed one, else 'I' */
  get txStatus(): 'I' | 'T' | 'E' {
    if (this.#idleEndedTx) return 'E';
    if (this.#tx) return this.#tx.upstream.txStatus;
    return this.#pendingBegin ? 'T' : 'I';
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
    this.#spans.set(requestId, statement);
    const ctx = statement.ctx;
    const started = performance.now();
    this.#statements += 1;
    this.#lastActive = Date.now();
    this.#opening += 1;
    let decision: policyV1.Decision | undefined;
    let entry: Upstream | undefined;
    const failed = (err: unknown, sent?: { rows: number; bytes: number; maskedCells: number }): ClientError => {
      // upstream text of a statement that read masked data never reaches the client or an event
      const e = forStatement(classify(err, decision?.limits), decision);
      this.#ctx.events.emit(
        proxyV1.queryFailed,
        {
          requestId,
          sessionId: this.id,
          connection: this.connection,
          leaseId: entry?.lease.leaseId ?? null,
          code: e.code,
          sqlState: e.sqlState,
          message: e.message,
          durationMs: performance.now() - started,
          ...(sent ?? {}),
        },
        ctx,
      );
      this.#settle(requestId, started, e);
      return e;
    };
    try {
      if (this.#idleEndedTx) {
        if (txVerb(sql) === 'commit' || txVerb(sql) === 'rollback') {
          this.#idleEndedTx = false;
          return this.#deferred(Promise.resolve(), 'ROLLBACK', requestId, ctx, started, null);
        }
        throw new AirlockError(
          'proxy.transaction_not_allowed',
          `the open transaction was rolled back and its credential revoked because the session was idle for more than ${this.#idleMs / 1000} s; send ROLLBACK, then start again`,
          { sqlState: '25P02' },
        );
      }
      const paramsDigest = digest(params);
      decision = await this.#ctx.bus.call(
        policyV1.decide,
        { requestId, sessionId: this.id, principal: this.principal, connection: this.connection, sql, frontend: this.#frontend, paramsDigest },
        ctx,
      );
      await this.#checkSigned(decision, requestId, paramsDigest);
      statement.set({
        'airlock.decision': decision.outcome,
        ...(decision.rule ? { 'airlock.rule': decision.rule } : {}),
        ...(decision.analysis ? { 'airlock.statement.kind': decision.analysis.kind } : {}),
      });
      if (decision.outcome === 'deny') {
        throw new AirlockError(
          (decision.code as 'policy.denied' | undefined) ?? 'policy.denied',
          `Airlock refused this statement${decision.rule ? ` (rule "${decision.rule}")` : ''}: ${decision.reason}`,
          { rule: decision.rule, requestId },
        );
      }
      let grant: string | undefined;
      if (decision.outcome === 'approval-required') {
        const held = decision;
        grant = await this.#ctx.bus.tracing.run('approve', ctx, held.rule ? { attributes: { 'airlock.rule': held.rule } } : {}, (span) =>
          this.#requestApproval(held, sql, params, span.ctx, hooks),
        );
      }
      decision = this.#namedDecision(decision);
      if (!decision.scope) return this.#local(sql, requestId, ctx, started);
      if (decision.scope.leaseMode === 'statement' && this.txStatus !== 'I') {
        throw new AirlockError(
          'proxy.transaction_not_allowed',
          'this connection mints a credential per statement, so transactions across statements are not possible; send each statement on its own',
        );
      }
      const role = decision.scope.role;
      if (this.#tx && this.#tx.role !== role) {
        throw new AirlockError(
          'proxy.transaction_not_allowed',
          `this transaction runs with the "${this.#tx.role}" role and this statement needs "${role}"; COMMIT or ROLLBACK first, then send it`,
          { sqlState: '25000' },
        );
      }
      entry = this.#tx ?? (decision.scope.leaseMode === 'session' ? this.#upstreams.get(role) : undefined);
      if (!entry || entry.upstream.closed) {
        entry = await this.#mint(decision, ctx, grant);
        for (const setting of this.#settings) await entry.upstream.simple(setting);
      }
      const upstream = entry.upstream;
      await upstream.setTimeout(decision.limits.timeoutMs);
      if (this.#pendingBegin) {
        await upstream.simple(this.#pendingBegin);
        this.#pendingBegin = undefined;
      }
      this.#running = entry;
      if (this.#summarised(decision)) this.#metadataReads += 1;
      else this.#ctx.events.emit(proxyV1.queryStarted, { requestId, sessionId: this.id, connection: this.connection, leaseId: entry.lease.leaseId }, ctx);
      let portal: UpstreamPortal;
      try {
        const leaseId = entry.lease.leaseId;
        portal = await this.#ctx.bus.tracing.run('execute', ctx, {}, () =>
          upstream.open(sql, params, {
            queryTag: JSON.stringify({
              airlock: { subject: this.principal.subject, requestId, leaseId, session: this.id },
              ...(this.#clientTag === undefined ? {} : { client: this.#clientTag }),
            }),
          }),
        );
        if (decision.rule === 'builtin:session') this.#remember(sql, decision.analysis?.kind);
      } finally {
        this.#tx = upstream.txStatus === 'I' ? undefined : entry;
      }
      return this.#statement(portal, decision, entry, requestId, ctx, started, failed);
    } catch (err) {
      this.#running = undefined;
      if (entry && decision?.scope?.leaseMode === 'statement') await this.#retire(entry, 'statement-complete', ctx);
      const e = failed(err);
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

  /**
   * Holds a statement that policy sends to approval: submits it (which consumes a matching grant at once),
   * tells the client, polls the request until it is decided or the hold time passes, and returns only when the
   * statement may run. Otherwise it throws: denied, expired, or still pending (the client retries later).
   */
  async #requestApproval(decision: policyV1.Decision, sql: string, params: Array<string | null>, ctx: CallContext, hooks: OpenHooks): Promise<string> {
    const analysis = decision.analysis;
    const submit = () =>
      this.#ctx.bus.call(
        approvalV1.submitApproval,
        {
          requestId: ctx.requestId,
          sessionId: this.id,
          principal: this.principal,
          connection: this.connection,
          sql: analysis?.normalized ?? sql.trim(),
          fingerprint: analysis?.fingerprint ?? '',
          kind: analysis?.kind ?? 'other',
          tables: analysis?.tables.map((t) => `${t.schema}.${t.table}`) ?? [],
          rule: decision.rule,
          approverGroups: decision.approval?.approverGroups ?? [],
          quorum: decision.approval?.quorum ?? 1,
          ...(hooks.justification ? { justification: hooks.justification } : {}),
          ...(decision.token ? { decision: decision.token } : {}),
          params,
        },
        ctx,
      );
    // a grant that let the statement through comes back signed, for the credential service
    const granted = (s: approvalV1.ApprovalStatus): s is approvalV1.ApprovalStatus & { grant: string } => s.state === 'granted' && s.grant !== undefined;
    let status = await submit();
    if (granted(status)) return status.grant;
    const who = decision.approval?.approverGroups.join(', ') ?? 'an approver';
    const rule = decision.rule ? ` (rule "${decision.rule}")` : '';
    const holdMs = hooks.holdMs ?? (this.#ctx.config.approval?.holdSeconds ?? 30) * 1000;
    if (status.state === 'pending') {
      hooks.onHold?.(
        status.approvalId,
        `Airlock is holding this statement for approval${rule} by ${who}: request ${status.approvalId}. ` +
          `An approver runs: npx airlock approvals approve ${status.approvalId}`,
      );
      const deadline = Date.now() + holdMs;
      while (status.state === 'pending' && Date.now() < deadline && !this.#closed) {
        await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
        status = await this.#ctx.bus.call(approvalV1.getApprovalStatus, { approvalId: status.approvalId }, ctx);
      }
      if (status.state === 'granted') {
        // the approval left a one-shot grant for exactly this statement: consume it
        status = await submit();
        if (granted(status)) return status.grant;
      }
    }
    const details = { approvalId: status.approvalId, rule: decision.rule };
    if (status.state === 'denied') {
      throw new AirlockError('approval.denied', `an approver denied this statement (request ${status.approvalId}): ${status.reason ?? 'no reason given'}`, details);
    }
    if (status.state === 'expired' || status.state === 'cancelled') {
      throw new AirlockError('approval.expired', `approval request ${status.approvalId} ${status.state} before anyone approved it; send the statement again to ask anew`, details);
    }
    throw new AirlockError(
      'approval.pending',
      `this statement needs approval${rule} by ${who}: request ${status.approvalId} is pending until ${status.expiresAt}. ` +
        'Send the same statement again once it is approved and it will run.',
      details,
    );
  }

  /** Transaction control before any upstream exists is kept locally and replayed on the upstream that the next statement uses. */
  #local(sql: string, requestId: string, ctx: CallContext, started: number): ActiveStatement {
    const verb = txVerb(sql);
    let tag: string;
    if (this.#tx) {
      // an upstream transaction is open: it must see its own COMMIT/ROLLBACK
      const entry = this.#tx;
      const run = (async () => {
        await entry.upstream.simple(sql);
        this.#tx = entry.upstream.txStatus === 'I' ? undefined : entry;
      })();
      return this.#deferred(run, verb === 'begin' ? 'BEGIN' : verb === 'commit' ? 'COMMIT' : verb === 'rollback' ? 'ROLLBACK' : sql.trim().split(/\s+/)[0]!.toUpperCase(), requestId, ctx, started, entry.lease.leaseId);
    }
    if (verb === 'begin') {
      this.#pendingBegin = sql;
      tag = 'BEGIN';
    } else if (verb === 'commit') {
      this.#pendingBegin = undefined;
      tag = 'COMMIT';
    } else if (verb === 'rollback') {
      this.#pendingBegin = undefined;
      tag = 'ROLLBACK';
    } else {
      throw new AirlockError('proxy.transaction_not_allowed', 'no transaction is open on this session; savepoints need a statement inside BEGIN first', { sqlState: '25P01' });
    }
    return this.#deferred(Promise.resolve(), tag, requestId, ctx, started, null);
  }

  #deferred(run: Promise<void>, tag: string, requestId: string, ctx: CallContext, started: number, leaseId: string | null): ActiveStatement {
    const complete = () =>
      this.#ctx.events.emit(
        proxyV1.queryCompleted,
        { requestId, sessionId: this.id, connection: this.connection, leaseId, command: tag, rows: 0, bytes: 0, maskedCells: 0, detected: {}, durationMs: performance.now() - started },
        ctx,
      );
    return {
      requestId,
      columns: null,
      read: async () => {
        await run;
        complete();
        this.#settle(requestId, started);
        return { rows: [], done: true, tag };
      },
      close: async () => undefined,
      fail: (err) => classify(err),
    };
  }

  /**
   * Acts only on a decision the policy service signed for this very request: its outcome, scope, approvers and
   * masking plan are the ones in the signature, and it binds this principal, connection and these parameters.
   */
  async #checkSigned(decision: policyV1.Decision, requestId: string, paramsDigest: string): Promise<void> {
    const refuse = (why: string) => {
      this.#ctx.logger.error({ requestId, sessionId: this.id, reason: why }, 'a policy decision failed its signature check; the statement is refused');
      return new AirlockError('proxy.untrusted_decision', 'Airlock could not verify the policy decision for this statement, so it did not run; retry, and tell the operator if it persists', { requestId });
    };
    if (!decision.token) throw refuse('the decision is not signed');
    let claims: Record<string, unknown>;
    try {
      claims = await this.#ctx.decisions.verify(decision.token);
    } catch (err) {
      throw refuse((err as Error).message);
    }
    const d = claims as unknown as policyV1.DecisionClaims;
    const scope = decision.scope ? { role: decision.scope.role, ttl: decision.scope.ttlSeconds, mode: decision.scope.leaseMode } : null;
    const approval = decision.approval ? { groups: decision.approval.approverGroups, quorum: decision.approval.quorum } : null;
    if (
      d.req !== requestId ||
      d.ses !== this.id ||
      d.sub !== this.principal.subject ||
      d.pis !== this.principal.issuer ||
      d.con !== this.connection ||
      d.pd !== paramsDigest ||
      d.out !== decision.outcome ||
      d.rule !== decision.rule ||
      digest(d.scope) !== digest(scope) ||
      digest(d.appr) !== digest(approval) ||
      d.mask !== digest(decision.masking)
    ) {
      throw refuse('the decision differs from what its signature binds');
    }
  }

  /**
   * EXECUTE, FETCH and MOVE run with what PREPARE or DECLARE was decided as, on the upstream session that holds it;
   * CLOSE and DEALLOCATE forget it. A name this session never prepared through Airlock is refused, so nothing runs
   * without the masking plan of its own decision.
   */
  #namedDecision(decision: policyV1.Decision): policyV1.Decision {
    const named = decision.analysis?.named;
    if (named === undefined || named.verb === 'prepare' || named.verb === 'declare') return decision;
    const cursor = named.verb === 'fetch' || named.verb === 'move' || named.verb === 'close';
    const family = cursor ? 'cursor' : 'prepare';
    if (named.name === null) {
      for (const key of [...this.#named.keys()]) if (key.startsWith(`${family}:`)) this.#named.delete(key);
      return decision;
    }
    const key = `${family}:${named.name}`;
    const entry = this.#named.get(key);
    const held = entry?.decision;
    const holder = held?.scope ? (this.#tx ?? this.#upstreams.get(held.scope.role)) : undefined;
    // only on the very upstream session that prepared or declared it: a fresh one (another lease) may hold another
    // statement under the same name
    if (held === undefined || held.scope === null || holder === undefined || holder.upstream !== entry!.upstream || holder.upstream.closed) {
      this.#named.delete(key);
      throw new AirlockError(
        'runtime.invalid_request',
        `${cursor ? 'cursor' : 'prepared statement'} "${named.name}" does not exist in this session (it was never declared through Airlock, or the credential it was made with has ended)`,
        { sqlState: cursor ? '34000' : '26000' },
      );
    }
    if (named.verb === 'close' || named.verb === 'deallocate') this.#named.delete(key);
    return { ...decision, scope: held.scope, masking: held.masking, maskedSources: held.maskedSources, limits: held.limits };
  }

  /** An allowed metadata read that `audit.metadataReads: summary` counts on the session instead of recording. */
  #summarised(decision: policyV1.Decision): boolean {
    return this.#ctx.config.audit?.metadataReads === 'summary' && decision.outcome === 'allow' && decision.rule === 'builtin:metadata';
  }

  #remember(sql: string, kind: string | undefined): void {
    // SHOW changes nothing; SET LOCAL ends with its transaction; DISCARD returns to the start-up values
    if (kind === 'show' || /^\s*set\s+local\b/i.test(sql)) return;
    if (/^\s*discard\b/i.test(sql)) {
      this.#settings.length = 0;
      this.#named.clear();
      return;
    }
    if (kind === 'utility') return;
    const tag = clientQueryTag(sql);
    if (tag !== undefined) this.#clientTag = tag.value;
    // USE ROLE may only name the lease's own role, which every lease of that rule already has; a lease for another
    // rule has another role, where replaying it would fail
    if (/^\s*use\s+role\b/i.test(sql)) return;
    // the newest wins; a bounded list, so a client repeating its set-up cannot grow it
    const at = this.#settings.indexOf(sql);
    if (at >= 0) this.#settings.splice(at, 1);
    this.#settings.push(sql);
    if (this.#settings.length > MAX_REPLAYED_SETTINGS) this.#settings.shift();
  }

  async #mint(decision: policyV1.Decision, ctx: CallContext, grant: string | undefined): Promise<Upstream> {
    const scope = decision.scope!;
    const lease = await this.#ctx.bus.call(
      credentialV1.issueLease,
      {
        requestId: ctx.requestId,
        sessionId: this.id,
        connection: this.connection,
        principal: this.principal,
        scope,
        holder: this.#ctx.proxyId,
        ...(decision.token ? { decision: decision.token } : {}),
        ...(grant ? { grant } : {}),
      },
      ctx,
      { timeoutMs: 20_000 },
    );
    // revoked behind the session's back (an operator, the sweeper): the session ends, it does not quietly re-mint
    this.#ctx.keeper.hold(lease.leaseId, () => void this.#credentialLost(lease));
    let upstream: UpstreamConnection;
    try {
      upstream = await this.#ctx.bus.tracing.run('connect', ctx, {}, () =>
        this.#engine.connect(lease, {
          applicationName: `airlock:${this.principal.subject}`,
          timeoutMs: decision.limits.timeoutMs,
        }),
      );
    } catch (err) {
      await this.#revoke(lease.leaseId, 'connect-failed', ctx);
      throw err;
    }
    const entry: Upstream = { role: scope.role, lease, upstream };
    if (scope.leaseMode === 'session') this.#upstreams.set(scope.role, entry);
    return entry;
  }

  #statement(
    portal: UpstreamPortal,
    decision: policyV1.Decision,
    entry: Upstream,
    requestId: string,
    ctx: CallContext,
    started: number,
    failed: (err: unknown, sent?: { rows: number; bytes: number; maskedCells: number }) => ClientError,
  ): ActiveStatement {
    const columns = portal.columns;
    const masker = columns ? this.#masker(decision.masking, columns) : undefined;
    const maxRows = decision.limits.maxRows;
    const recording = this.#ctx.config.connections[this.connection]?.recording;
    const keepRows = recording?.rows ?? 100;
    const keepBytes = recording?.bytes ?? 64 * 1024;
    const kept: Array<Array<string | null>> = [];
    let keptBytes = 0;
    let truncated = false;
    let rowCount = 0;
    let bytes = 0;
    let finished = false;
    // rows streaming through the masking plan, from the first batch to the last
    let mask: ActiveSpan | undefined;
    const counted = () => {
      mask?.set({ 'airlock.rows': rowCount, 'airlock.masked_cells': masker?.stats.maskedCells ?? 0 });
      if (masker) this.#ctx.metrics?.maskedCells.inc({ connection: this.connection }, masker.stats.maskedCells);
    };
    const finish = async (tag: string | undefined) => {
      if (finished) return;
      finished = true;
      this.#running = undefined;
      this.#lastActive = Date.now();
      this.#tx = entry.upstream.txStatus === 'I' ? undefined : this.#tx ?? (entry.upstream.txStatus === 'T' ? entry : undefined);
      // what PREPARE or DECLARE decided is kept only once the server confirms it made the statement or cursor: a
      // name that already exists keeps its first statement, which must keep its own masking plan
      const named = decision.analysis?.named;
      if (named?.name != null && ((named.verb === 'prepare' && tag === 'PREPARE') || (named.verb === 'declare' && tag === 'DECLARE CURSOR'))) {
        this.#named.set(`${named.verb === 'prepare' ? 'prepare' : 'cursor'}:${named.name}`, { decision, upstream: entry.upstream });
      }
      if (!this.#summarised(decision)) this.#ctx.events.emit(
        proxyV1.queryCompleted,
        {
          requestId,
          sessionId: this.id,
          connection: this.connection,
          leaseId: entry.lease.leaseId,
          command: tag ?? 'SELECT',
          rows: rowCount,
          bytes,
          maskedCells: masker?.stats.maskedCells ?? 0,
          detected: masker ? { ...masker.stats.detected } : {},
          durationMs: performance.now() - started,
          ...(columns ? { result: { columns: columns.map((c) => c.name), rows: kept, truncated } } : {}),
        },
        ctx,
      );
      counted();
      mask?.end();
      if (decision.scope?.leaseMode === 'statement') await this.#retire(entry, 'statement-complete', ctx);
      this.#settle(requestId, started);
    };
    const fail = async (err: unknown): Promise<never> => {
      finished = true;
      this.#running = undefined;
      this.#lastActive = Date.now();
      this.#tx = entry.upstream.txStatus === 'I' ? undefined : this.#tx;
      counted();
      mask?.end(err);
      if (decision.scope?.leaseMode === 'statement') await this.#retire(entry, 'statement-complete', ctx);
      const e = failed(err, { rows: rowCount, bytes, maskedCells: masker?.stats.maskedCells ?? 0 });
      throw new AirlockError(e.code, e.message, { sqlState: e.sqlState, ...(e.hint ? { hint: e.hint } : {}), ...(e.snowflakeCode ? { snowflakeCode: e.snowflakeCode } : {}), requestId });
    };
    return {
      requestId,
      columns,
      read: async (max) => {
        let batch;
        mask ??= columns ? this.#ctx.bus.tracing.start('mask', ctx) : undefined;
        try {
          batch = await portal.read(Math.min(max, maxRows - rowCount + 1));
        } catch (err) {
          return fail(err);
        }
        if (rowCount + batch.rows.length > maxRows) {
          await portal.close().catch(() => undefined);
          return fail(
            new AirlockError('proxy.row_limit', `the result has more than ${maxRows} rows, the limit for this connection; add a LIMIT or a narrower filter`),
          );
        }
        rowCount += batch.rows.length;
        for (const row of batch.rows) {
          masker?.maskRow(row);
          let size = 0;
          for (const v of row) if (v !== null) size += v.length;
          bytes += size;
          // the recording keeps the masked row exactly as the client gets it, within the connection's limits
          if (kept.length < keepRows && keptBytes + size <= keepBytes) {
            kept.push(row.slice());
            keptBytes += size;
          } else truncated = true;
        }
        if (batch.done) await finish(batch.tag);
        return batch;
      },
      close: async () => {
        if (finished) return;
        await portal.close().catch(() => undefined);
        await finish('CLOSED');
      },
      fail: (err) => {
        if (!finished) {
          finished = true;
          this.#running = undefined;
        }
        return failed(err, { rows: rowCount, bytes, maskedCells: masker?.stats.maskedCells ?? 0 });
      },
    };
  }

  #masker(plan: MaskingPlan, fields: ColumnInfo[]): Masker {
    let effective: MaskingPlan = plan;
    const known = plan.columns.length;
    const anyMask = plan.maskUnlisted || plan.columns.some((c) => c.action !== null);
    if (anyMask && known !== fields.length) {
      // the statement's shape differs from what lineage predicted: redact every column (fail closed)
      effective = { columns: [], maskUnlisted: true, detectors: plan.detectors };
    }
    const columns = fields.map((f, index) => {
      const c = effective.columns.find((x) => x.index === index);
      const textual = f.textual;
      const unlistedMasked = !c && effective.maskUnlisted;
      let action = c ? c.action : unlistedMasked ? ({ kind: 'redact' } as const) : null;
      // a masked value of a non-text type, or of text with a grammar (JSON, XML, arrays), must still parse as that
      // type: it becomes NULL
      if (action && (!textual || f.structured === true)) action = { kind: 'null' };
      return { index, name: f.name, action, detect: textual && (c?.detect ?? true) };
    });
    return createMasker({
      plan: { columns, maskUnlisted: false, detectors: effective.detectors },
      hashKey: this.#ctx.hashKey,
      columnCount: fields.length,
    });
  }

  /** Cancels the statement running upstream, if any (client cancel request or disconnect). */
  async cancel(): Promise<void> {
    await this.#running?.upstream.cancel();
  }

  /** `ctx` is the statement's when its per-statement lease ends, so the revocation joins the statement's trace */
  async #retire(entry: Upstream, reason: string, ctx: CallContext = newContext()): Promise<void> {
    await entry.upstream.close();
    await this.#revoke(entry.lease.leaseId, reason, ctx);
  }

  async #revoke(leaseId: string, reason: string, ctx: CallContext): Promise<void> {
    // released first: a heartbeat racing this revocation must not read it as revoked behind the session's back
    this.#ctx.keeper.release(leaseId);
    try {
      await this.#ctx.bus.call(credentialV1.revokeLease, { leaseId, reason }, ctx, { timeoutMs: 30_000 });
    } catch (err) {
      // the credential service's sweeper revokes it: its heartbeats have stopped
      this.#ctx.logger.warn({ leaseId, err: err instanceof Error ? err.message : String(err) }, 'revoking a lease failed; the sweeper will revoke it');
    }
  }

  /**
   * Revokes the session's leases once it has been idle past the connection's limit (`leases.idleSeconds`), so an
   * abandoned session holds no credential; the session stays open and its next statement mints a new lease.
   */
  async retireIfIdle(now: number): Promise<void> {
    if (this.#closed || this.#running || this.#opening > 0 || now - this.#lastActive < this.#idleMs) return;
    const entries = [...new Set([...this.#upstreams.values(), ...(this.#tx ? [this.#tx] : [])])];
    if (entries.length === 0) return;
    if (this.#tx) this.#idleEndedTx = true;
    this.#upstreams.clear();
    this.#tx = undefined;
    await Promise.all(entries.map((e) => this.#retire(e, 'idle-timeout')));
  }

  /** Called once the front door's client must be told the session is over (its credential was revoked elsewhere). */
  onTerminate(listener: (message: string) => void): void {
    this.#terminateListeners.push(listener);
  }

  async #credentialLost(lease: credentialV1.LeaseGrant): Promise<void> {
    if (this.#closed) return;
    if (Date.now() >= Date.parse(lease.expiresAt) - 1000) {
      // it reached its maximum lifetime: that upstream goes, and the session's next statement mints a fresh lease
      for (const [role, entry] of this.#upstreams) {
        if (entry.lease.leaseId !== lease.leaseId) continue;
        this.#upstreams.delete(role);
        if (this.#tx === entry) this.#tx = undefined;
        await entry.upstream.close().catch(() => undefined);
      }
      return;
    }
    const message = 'Airlock ended this session: its database credential was revoked (by an operator, or because its time ran out). Connect again to continue.';
    for (const l of this.#terminateListeners.splice(0)) l(message);
    await this.close('credential-revoked');
  }

  /** Ends the session: cancels what runs, closes upstream connections, revokes every lease, records the end. */
  async close(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.keeper.unwatch(this);
    if (this.#running) await this.#running.upstream.cancel().catch(() => undefined);
    const entries = [...new Set([...this.#upstreams.values(), ...(this.#tx ? [this.#tx] : [])])];
    this.#upstreams.clear();
    this.#tx = undefined;
    await Promise.all(entries.map((e) => this.#retire(e, reason)));
    // a statement the client abandoned without a close still ends its trace
    for (const span of this.#spans.values()) span.end();
    this.#spans.clear();
    this.#ctx.events.emit(proxyV1.sessionClosed, {
      sessionId: this.id,
      reason,
      statements: this.#statements,
      ...(this.#ctx.config.audit?.metadataReads === 'summary' ? { metadataReads: this.#metadataReads } : {}),
    });
  }

  /** Ends a statement's root span and times it: once, after its per-statement lease was revoked. */
  #settle(requestId: string, started: number, failure?: ClientError): void {
    const span = this.#spans.get(requestId);
    if (!span) return;
    this.#spans.delete(requestId);
    this.#ctx.metrics?.statementSeconds.observe({ connection: this.connection, outcome: failure ? 'failed' : 'completed' }, (performance.now() - started) / 1000);
    span.end(failure ? new AirlockError(failure.code, 'the statement failed') : undefined);
  }
}

/** Session statements replayed on a fresh upstream session, at most (the oldest are dropped first). */
const MAX_REPLAYED_SETTINGS = 32;

/**
 * The QUERY_TAG a Snowflake `ALTER SESSION SET … QUERY_TAG = '…'` sets (`value` undefined for `UNSET QUERY_TAG`), or
 * undefined when the statement does not touch it. Airlock's own tag goes with every statement and wins upstream; the
 * client's travels inside it.
 */
export function clientQueryTag(sql: string): { value: string | undefined } | undefined {
  const text = sql.trim();
  if (!/^alter\s+session\s/i.test(text)) return undefined;
  if (/^alter\s+session\s+unset\b[\s\S]*\bquery_tag\b/i.test(text)) return { value: undefined };
  const m = /\bquery_tag\s*=\s*'((?:[^']|'')*)'/i.exec(text);
  return m ? { value: m[1].replace(/''/g, "'") } : undefined;
}
