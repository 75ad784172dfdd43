import { approvalV1, policyV1, type Principal, type proxyV1 } from '@airlock/contracts';
import { AirlockError, digest, type ActiveSpan, type Bus, type CallContext, type Logger, type TrustedKeys } from '@airlock/runtime';
import type { UpstreamConnection } from '../engines/engine.js';
import { ReusedDecisions, type ReuseEpoch } from './decision-reuse.js';
import type { LeaseHolder } from './lease-holder.js';

/** How a front door takes part in a statement's life: what to tell the client while it is held for approval. */
export interface OpenHooks {
  /** called once when the statement is held: the client may be told at once (a PostgreSQL NoticeResponse) */
  onHold?(approvalId: string, message: string): void;
  /** how long to hold before answering "pending"; the config's approval.holdSeconds by default, 0 answers at once */
  holdMs?: number;
  /** the agent's reason, shown to approvers */
  justification?: string;
}

/** A statement the gate let through: the decision it runs under and, after an approval, the signed grant. */
export interface Passage {
  decision: policyV1.Decision;
  grant: string | undefined;
}

export interface GateDeps {
  bus: Bus;
  logger: Logger;
  /** the policy service's public keys */
  decisions: TrustedKeys;
  /** the hold time when a front door names none */
  holdMs: number;
  session: { id: string; principal: Principal; connection: string; frontend: proxyV1.Frontend };
  /** which upstream session holds a role now: a named statement runs only on the one that made it */
  leases: Pick<LeaseHolder, 'holderOf'>;
  /** this proxy's view of policy's epoch: a reused decision ends when policy announces another */
  reuseEpoch: ReuseEpoch;
}

/**
 * Statement kinds that leave the schema and the session's settings as they were: any other (DDL, GRANT, SET, which
 * may change what a name resolves to) ends a session's reused decisions.
 */
const unchangingKinds: ReadonlySet<string> = new Set(['select', 'insert', 'update', 'delete', 'merge', 'show', 'explain', 'transaction']);

/** Session statements replayed on a fresh upstream session, at most (the oldest are dropped first). */
export const MAX_REPLAYED_SETTINGS = 32;

/**
 * What every statement passes before it may run: policy's decision, acted on only when its signature holds; a
 * refusal; a hold for approval, waiting on the approval's decided event; and, for EXECUTE and FETCH, the decision
 * their PREPARE or DECLARE was made under.
 */
export class Gate {
  readonly #deps: GateDeps;
  /**
   * What PREPARE and DECLARE … CURSOR were decided as, by `prepare:<name>` and `cursor:<name>`: EXECUTE and FETCH run
   * on the same upstream session with that decision's role and masking plan.
   */
  readonly #named = new Map<string, { decision: policyV1.Decision; upstream: UpstreamConnection }>();
  /** decisions policy signed as reusable, by exact statement text: a repeated statement is not decided again */
  readonly #reusable: ReusedDecisions;
  /** the decisions handed out again, each with the statement it was made for */
  readonly #reusedFrom = new WeakMap<policyV1.Decision, proxyV1.ReusedDecision>();
  /** statements held for approval: woken when the session ends */
  readonly #holds = new Set<() => void>();
  #closed = false;
  /**
   * The session statements the policy let through (`USE …`, `ALTER SESSION …`), in order: each fresh upstream session
   * (a per-statement lease, a new role) replays them, so a client's settings outlive the credential they were set on.
   */
  readonly settings: string[] = [];
  /** the client's own QUERY_TAG, kept beside Airlock's attribution in the tag of every statement */
  clientTag: string | undefined;

  constructor(deps: GateDeps) {
    this.#deps = deps;
    this.#reusable = new ReusedDecisions(deps.reuseEpoch);
  }

  /**
   * Policy's decision for this statement, verified against its signature; or, for a statement of the same text
   * that policy signed as reusable, that decision again (`reusedFrom` tells which statement it was made for).
   */
  async decide(sql: string, params: Array<string | null>, requestId: string, ctx: CallContext): Promise<policyV1.Decision> {
    const again = this.#reuse(sql);
    if (again) return again;
    const { id: sessionId, principal, connection, frontend } = this.#deps.session;
    const paramsDigest = digest(params);
    const generation = this.#reusable.generation;
    const decision = await this.#deps.bus.call(policyV1.decide, { requestId, sessionId, principal, connection, sql, frontend, paramsDigest }, ctx);
    const claims = await this.#checkSigned(decision, requestId, paramsDigest, sql);
    this.#keep(sql, decision, claims, generation);
    return decision;
  }

  /** The earlier statement whose decision `decision` is, when the gate reused it; undefined for one policy made now. */
  reusedFrom(decision: policyV1.Decision): proxyV1.ReusedDecision | undefined {
    return this.#reusedFrom.get(decision);
  }

  /**
   * A kept decision for exactly this text, acted on only while the session holds a live upstream for its role: the
   * decision already minted that lease, and its signature is good for one lease only.
   */
  #reuse(sql: string): policyV1.Decision | undefined {
    const entry = this.#reusable.get(sql, Date.now());
    if (!entry) return undefined;
    const holder = this.#deps.leases.holderOf(entry.decision.scope!.role);
    if (holder === undefined || holder.upstream.closed) return undefined;
    const decision = { ...entry.decision };
    this.#reusedFrom.set(decision, entry.reused);
    return decision;
  }

  /**
   * Keeps a decision whose signature says it may be reused, for the time it says, unless policy announced another
   * epoch while it was being made. A statement that may change what earlier decisions saw (DDL, GRANT, SET, a
   * call, anything policy could not classify) ends the session's reuse.
   */
  #keep(sql: string, decision: policyV1.Decision, claims: policyV1.DecisionClaims, generation: number): void {
    const reuse = claims.reuse;
    const analysis = decision.analysis;
    if (!analysis || analysis.kinds.some((k) => !unchangingKinds.has(k))) this.#reusable.clear();
    if (
      reuse === undefined ||
      decision.outcome !== 'allow' ||
      decision.approval !== null ||
      decision.scope?.leaseMode !== 'session' ||
      decision.rule === 'builtin:session' ||
      analysis?.named !== undefined ||
      analysis?.transaction !== undefined
    ) {
      return;
    }
    const now = Date.now();
    const exp = (claims as { exp?: number }).exp;
    const until = Math.min(now + reuse.s * 1000, exp === undefined ? now : exp * 1000);
    const reused = { requestId: decision.requestId, outcome: 'allow' as const, rule: decision.rule, statementDigest: claims.sd };
    this.#reusable.set(sql, { decision, reused, until, generation });
  }

  /** Lets a decided statement through, or throws: denied, refused by an approver, still pending, or an unknown name. */
  async admit(decision: policyV1.Decision, sql: string, params: Array<string | null>, statement: ActiveSpan, hooks: OpenHooks): Promise<Passage> {
    statement.set({
      'airlock.decision': decision.outcome,
      ...(decision.rule ? { 'airlock.rule': decision.rule } : {}),
      ...(decision.analysis ? { 'airlock.statement.kind': decision.analysis.kind } : {}),
      // a reused decision has no policy span under this statement: the trace says whose decision it ran under
      ...(this.#reusedFrom.has(decision) ? { 'airlock.decision.reused_from': decision.requestId } : {}),
    });
    if (decision.outcome === 'deny') {
      throw new AirlockError(
        (decision.code as 'policy.denied' | undefined) ?? 'policy.denied',
        `Airlock refused this statement${decision.rule ? ` (rule "${decision.rule}")` : ''}: ${decision.reason}`,
        { rule: decision.rule, requestId: statement.ctx.requestId },
      );
    }
    let grant: string | undefined;
    if (decision.outcome === 'approval-required') {
      grant = await this.#deps.bus.tracing.run('approve', statement.ctx, decision.rule ? { attributes: { 'airlock.rule': decision.rule } } : {}, (span) =>
        this.#requestApproval(decision, sql, params, span.ctx, hooks),
      );
    }
    return { decision: this.#namedDecision(decision), grant };
  }

  /** The session ends: a statement held for approval stops waiting. */
  close(): void {
    this.#closed = true;
    this.#reusable.clear();
    for (const wake of this.#holds) wake();
  }

  /**
   * Holds a statement that policy sends to approval: submits it (which consumes a matching grant at once), tells the
   * client, waits for the request's decided event until the hold time passes, and returns only when the statement may
   * run. Otherwise it throws: denied, expired, or still pending (the client retries later).
   */
  async #requestApproval(decision: policyV1.Decision, sql: string, params: Array<string | null>, ctx: CallContext, hooks: OpenHooks): Promise<string> {
    const { bus } = this.#deps;
    const { id: sessionId, principal, connection } = this.#deps.session;
    const analysis = decision.analysis;
    const submit = () =>
      bus.call(
        approvalV1.submitApproval,
        {
          requestId: ctx.requestId,
          sessionId,
          principal,
          connection,
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
    const holdMs = hooks.holdMs ?? this.#deps.holdMs;
    if (status.state === 'pending') {
      hooks.onHold?.(
        status.approvalId,
        `Airlock is holding this statement for approval${rule} by ${who}: request ${status.approvalId}. ` +
          `An approver runs: npx airlock approvals approve ${status.approvalId}`,
      );
      if (holdMs > 0 && !this.#closed) status = await this.#awaitDecision(status, holdMs, ctx, submit);
      if (granted(status)) return status.grant;
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

  /**
   * The request's state once it is decided, the hold time passes, or the session ends; a grant comes back consumed
   * (`submit` again takes the one-shot grant for exactly this statement). The status is asked once after listening
   * (the decision may have landed before) and once when the hold time passes (an event may be lost). A decided event
   * only wakes the hold: what it says is not taken on its word. A grant is only what `submit` hands back, and a
   * denial or expiry only what the approval service answers when asked; a request still pending keeps the hold.
   */
  async #awaitDecision(
    pending: approvalV1.ApprovalStatus,
    holdMs: number,
    ctx: CallContext,
    submit: () => Promise<approvalV1.ApprovalStatus>,
  ): Promise<approvalV1.ApprovalStatus> {
    const { bus } = this.#deps;
    const approvalId = pending.approvalId;
    /** what the newest decided event claims, until the hold looks at it */
    let claimed: approvalV1.ApprovalState | undefined;
    let wake: () => void = () => undefined;
    let woken = new Promise<void>((resolve) => (wake = resolve));
    const listener = await bus.listen(approvalV1.approvalDecided, (event) => {
      // a vote short of the quorum leaves the request pending
      if (event.approvalId !== approvalId || event.state === 'pending') return;
      claimed = event.state;
      wake();
    });
    const rouse = () => wake();
    this.#holds.add(rouse);
    if (this.#closed) wake();
    const deadline = Date.now() + holdMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      wake();
    }, holdMs);
    try {
      let current = await bus.call(approvalV1.getApprovalStatus, { approvalId }, ctx);
      for (;;) {
        if (current.state === 'granted') {
          // the approval left a one-shot grant for exactly this statement: consume it
          const taken = await submit();
          if (taken.state !== 'pending' || this.#closed || timedOut || Date.now() >= deadline) return taken;
          current = taken;
        } else if (current.state !== 'pending' || this.#closed || timedOut) {
          return current;
        }
        await woken;
        woken = new Promise<void>((resolve) => (wake = resolve));
        if (this.#closed) return current;
        const said = claimed;
        claimed = undefined;
        // a claimed grant is tried by consuming it, which only a real grant lets through; anything else is asked
        current = said === 'granted' && !timedOut ? { ...current, state: 'granted' } : await bus.call(approvalV1.getApprovalStatus, { approvalId }, ctx);
      }
    } finally {
      clearTimeout(timer);
      this.#holds.delete(rouse);
      listener.stop();
    }
  }

  /**
   * Acts only on a decision the policy service signed for this very request: its outcome, scope, approvers and
   * masking plan are the ones in the signature, and it binds this principal, connection, statement text and these
   * parameters.
   */
  async #checkSigned(decision: policyV1.Decision, requestId: string, paramsDigest: string, sql: string): Promise<policyV1.DecisionClaims> {
    const { id: sessionId, principal, connection } = this.#deps.session;
    const refuse = (why: string) => {
      this.#deps.logger.error({ requestId, sessionId, reason: why }, 'a policy decision failed its signature check; the statement is refused');
      return new AirlockError('proxy.untrusted_decision', 'Airlock could not verify the policy decision for this statement, so it did not run; retry, and tell the operator if it persists', { requestId });
    };
    if (!decision.token) throw refuse('the decision is not signed');
    let claims: Record<string, unknown>;
    try {
      claims = await this.#deps.decisions.verify(decision.token);
    } catch (err) {
      throw refuse((err as Error).message);
    }
    const d = claims as unknown as policyV1.DecisionClaims;
    const scope = decision.scope ? { role: decision.scope.role, ttl: decision.scope.ttlSeconds, mode: decision.scope.leaseMode } : null;
    const approval = decision.approval ? { groups: decision.approval.approverGroups, quorum: decision.approval.quorum } : null;
    // the text policy decided about: its analysis' normalised form (trimmed, without trailing semicolons), or the
    // trimmed text when it could not analyse it; a decision about any other statement is not this one's
    const text = sql.trim();
    const about = d.sd === digest(text.replace(/[;\s]+$/, '')) || d.sd === digest(text);
    if (
      !about ||
      d.req !== requestId ||
      d.ses !== sessionId ||
      d.sub !== principal.subject ||
      d.pis !== principal.issuer ||
      d.con !== connection ||
      d.pd !== paramsDigest ||
      d.out !== decision.outcome ||
      d.rule !== decision.rule ||
      digest(d.scope) !== digest(scope) ||
      digest(d.appr) !== digest(approval) ||
      d.mask !== digest(decision.masking) ||
      // what the proxy reads from the analysis (a transaction's verb, a named statement whose plan it reuses) is signed too
      d.an !== digest(decision.analysis)
    ) {
      throw refuse('the decision differs from what its signature binds');
    }
    return d;
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
    const holder = held?.scope ? this.#deps.leases.holderOf(held.scope.role) : undefined;
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

  /**
   * What PREPARE or DECLARE decided is kept only once the server confirms it made the statement or cursor: a name
   * that already exists keeps its first statement, which must keep its own masking plan.
   */
  confirm(decision: policyV1.Decision, upstream: UpstreamConnection, tag: string | undefined): void {
    const named = decision.analysis?.named;
    if (named?.name != null && ((named.verb === 'prepare' && tag === 'PREPARE') || (named.verb === 'declare' && tag === 'DECLARE CURSOR'))) {
      this.#named.set(`${named.verb === 'prepare' ? 'prepare' : 'cursor'}:${named.name}`, { decision, upstream });
    }
  }

  /** Keeps a session statement policy let through (`builtin:session`) for replay on the next fresh upstream session. */
  remember(sql: string, kind: string | undefined): void {
    // SHOW changes nothing; SET LOCAL ends with its transaction; DISCARD returns to the start-up values
    if (kind === 'show' || /^\s*set\s+local\b/i.test(sql)) return;
    if (/^\s*discard\b/i.test(sql)) {
      this.settings.length = 0;
      this.#named.clear();
      return;
    }
    if (kind === 'utility') return;
    const tag = clientQueryTag(sql);
    if (tag !== undefined) this.clientTag = tag.value;
    // USE ROLE may only name the lease's own role, which every lease of that rule already has; a lease for another
    // rule has another role, where replaying it would fail
    if (/^\s*use\s+role\b/i.test(sql)) return;
    // the newest wins; a bounded list, so a client repeating its set-up cannot grow it
    const at = this.settings.indexOf(sql);
    if (at >= 0) this.settings.splice(at, 1);
    this.settings.push(sql);
    if (this.settings.length > MAX_REPLAYED_SETTINGS) this.settings.shift();
  }
}

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
