import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { ApprovalWebhook } from '@airlock/config';
import type { Principal, approvalV1 } from '@airlock/contracts';
import { AirlockError, type CallContext } from '@airlock/runtime';
import { parseWindow } from './duration.js';
import { grantCovers, grantForVotes } from './grants.js';
import { decidedJson, decidedSlack, howToDecide, requestedJson, requestedSlack } from './messages.js';
import { assertMayDecide, canView, denialReason } from './rules.js';
import { grants, scopeOf, type GrantRow } from './store/grants.js';
import { inTransaction } from './store/migrations.js';
import { outbox, type OutboxItem } from './store/outbox.js';
import { requests, type Bound, type Queryable, type RequestRow, type VoteRow } from './store/requests.js';

export interface WorkflowSettings {
  ttlSeconds: number;
  oneShotSeconds: number;
  maxWindowSeconds: number;
  webhooks: readonly ApprovalWebhook[];
  /** the approval API's address as approvers reach it, for the links in messages */
  apiBaseUrl: () => string;
}

export type Decision = { decision: 'approve'; for?: string | number; reason?: string } | { decision: 'deny'; reason?: string };

const iso = (d: Date | string) => new Date(d).toISOString();

const person = (p: Principal) => ({ subject: p.subject, issuer: p.issuer, ...(p.email ? { email: p.email } : {}) });

export function toView(row: RequestRow, votes: readonly VoteRow[]): approvalV1.ApprovalView {
  const mine = votes.filter((v) => v.approval_id === row.id);
  return {
    approvalId: row.id,
    state: row.state,
    requester: { ...person(row.principal), groups: row.principal.groups },
    connection: row.connection,
    sql: row.sql,
    fingerprint: row.fingerprint,
    kind: row.kind,
    tables: row.tables,
    rule: row.rule,
    ...(row.justification ? { justification: row.justification } : {}),
    ...(row.params && row.params.length > 0 ? { params: row.params } : {}),
    approverGroups: row.approver_groups,
    quorum: row.quorum,
    approvals: mine.filter((v) => v.decision === 'approve').length,
    votes: mine.map((v) => ({
      approver: person(v.principal),
      decision: v.decision,
      ...(v.reason ? { reason: v.reason } : {}),
      ...(v.window_seconds ? { windowSeconds: v.window_seconds } : {}),
      at: iso(v.created_at),
    })),
    ...(row.reason ? { reason: row.reason } : {}),
    ...(row.window_seconds ? { windowSeconds: row.window_seconds } : {}),
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    ...(row.decided_at ? { decidedAt: iso(row.decided_at) } : {}),
  };
}

function toStatus(view: approvalV1.ApprovalView, expiresAt?: Date): approvalV1.ApprovalStatus {
  return {
    approvalId: view.approvalId,
    state: view.state,
    expiresAt: expiresAt ? iso(expiresAt) : view.expiresAt,
    approvals: view.approvals,
    quorum: view.quorum,
    ...(view.reason ? { reason: view.reason } : {}),
  };
}

/**
 * The approval workflow over PostgreSQL: submit (grant, open request, or a new one), status, decisions and expiry.
 * Each change and the events and messages that announce it are written in one transaction; `announce` then
 * delivers them.
 */
export class Approvals {
  readonly #pool: pg.Pool;
  readonly #settings: WorkflowSettings;
  readonly #announce: () => void;

  constructor(deps: { pool: pg.Pool; settings: WorkflowSettings; announce: () => void }) {
    this.#pool = deps.pool;
    this.#settings = deps.settings;
    this.#announce = deps.announce;
  }

  async #view(db: Queryable, row: RequestRow): Promise<approvalV1.ApprovalView> {
    return toView(row, await requests.votes(db, [row.id]));
  }

  /** In this order: consume a one-shot grant; a covering time-window grant; the open request; a new request. */
  async submit(req: Bound, ctx: CallContext): Promise<{ status: approvalV1.ApprovalStatus; grantId?: string }> {
    const granted = await inTransaction(this.#pool, async (db) => {
      const used = (await grants.consumeOneShot(db, req)) ?? (await this.#coveringWindow(db, req));
      if (!used) return undefined;
      await outbox.enqueue(db, [this.#grantUsed(used, req, ctx)]);
      const request = (await requests.get(db, used.approval_id))!;
      return { status: toStatus(await this.#view(db, request), used.expires_at), grantId: used.id };
    });
    if (granted) {
      this.#announce();
      return granted;
    }
    const status = await inTransaction(this.#pool, async (db) => {
      const open = await requests.findOpen(db, req);
      if (open) return toStatus(await this.#view(db, open));
      // a pending request past its time that the sweeper has not reached yet would block the new one
      await this.#expire(db, await requests.expireDue(db));
      const id = randomUUID();
      const row = (await requests.insert(db, id, req, this.#settings.ttlSeconds)) ?? (await requests.findOpen(db, req));
      if (!row) throw new AirlockError('runtime.unavailable', 'the approval request could not be recorded; send the statement again');
      const view = await this.#view(db, row);
      if (row.id === id) await outbox.enqueue(db, this.#requested(row, view, ctx));
      return toStatus(view);
    });
    this.#announce();
    return { status };
  }

  async #coveringWindow(db: Queryable, req: Bound): Promise<GrantRow | undefined> {
    const now = new Date();
    const statement = {
      subject: req.principal.subject,
      issuer: req.principal.issuer,
      connection: req.connection,
      fingerprint: req.fingerprint,
      kind: req.kind,
      tables: req.tables,
    };
    return (await grants.windowCandidates(db, req)).find((g) => grantCovers(scopeOf(g), statement, now));
  }

  /** The state a front door polls; a request past its time is expired on the spot. */
  /** With `caller`: someone who is neither the requester nor an approver is told what an unknown id tells. */
  async status(approvalId: string, caller?: Principal): Promise<approvalV1.ApprovalStatus> {
    const view = await this.#current(this.#pool, approvalId);
    if (caller && !canView({ subject: view.requester.subject, issuer: view.requester.issuer, approverGroups: view.approverGroups }, caller)) {
      throw new AirlockError('approval.not_found', `no approval request ${approvalId}`);
    }
    return toStatus(view);
  }

  async #current(db: pg.Pool, approvalId: string): Promise<approvalV1.ApprovalView> {
    const row = await requests.get(db, approvalId);
    if (!row) throw new AirlockError('approval.not_found', `no approval request ${approvalId}`);
    if (row.state === 'pending' && new Date(row.expires_at).getTime() <= Date.now()) {
      const expired = await inTransaction(db, async (tx) => {
        const rows = await requests.expireDue(tx, approvalId);
        await this.#expire(tx, rows);
        return rows[0];
      });
      this.#announce();
      if (expired) return this.#view(db, expired);
      return this.#view(db, (await requests.get(db, approvalId))!);
    }
    return this.#view(db, row);
  }

  /** One request, for its requester or one of its approvers. */
  async get(approvalId: string, caller: Principal): Promise<approvalV1.ApprovalView> {
    const view = await this.#current(this.#pool, approvalId);
    const ref = { subject: view.requester.subject, issuer: view.requester.issuer, approverGroups: view.approverGroups };
    // anyone else hears what an unknown id gets: not whether the request exists, nor who may decide it
    if (!canView(ref, caller)) throw new AirlockError('approval.not_found', `no approval request ${approvalId}`);
    return view;
  }

  async list(caller: Principal, state: approvalV1.ApprovalState | undefined): Promise<approvalV1.ApprovalView[]> {
    await this.expireDue();
    const rows = await requests.list(this.#pool, caller, state);
    const votes = await requests.votes(
      this.#pool,
      rows.map((r) => r.id),
    );
    return rows.map((r) => toView(r, votes));
  }

  /** The expiry sweep: every pending request past its time becomes `expired`, announced once whichever copy gets it. */
  async expireDue(): Promise<number> {
    const n = await inTransaction(this.#pool, async (db) => {
      const rows = await requests.expireDue(db);
      await this.#expire(db, rows);
      return rows.length;
    });
    if (n > 0) this.#announce();
    return n;
  }

  async #expire(db: Queryable, rows: readonly RequestRow[]): Promise<void> {
    for (const row of rows) {
      const view = await this.#view(db, row);
      await outbox.enqueue(db, [
        {
          channel: 'bus',
          topic: 'decided',
          requestId: row.request_id,
          payload: this.#decidedEvent(row, { state: 'expired', approvals: view.approvals, reason: row.reason ?? 'expired' }),
        },
        ...this.#decidedMessages(view, undefined),
      ]);
    }
  }

  /**
   * One approver's vote. Refusals, in order: unknown request; self-approval; not an approver; an expired or decided
   * request; a denial without reason; a bad window. A second vote by the same approver is not counted.
   */
  async decide(approvalId: string, approver: Principal, decision: Decision, ctx: CallContext): Promise<approvalV1.DecisionReply> {
    const windowSeconds = decision.decision === 'approve' && decision.for !== undefined ? parseWindow(decision.for, this.#settings.maxWindowSeconds) : null;
    const outcome = await inTransaction(this.#pool, async (db) => {
      const row = await requests.get(db, approvalId, { lock: true });
      if (!row) throw new AirlockError('approval.not_found', `no approval request ${approvalId}`);
      assertMayDecide({ subject: row.subject, issuer: row.issuer, approverGroups: row.approver_groups }, approver);
      if (row.state === 'pending' && new Date(row.expires_at).getTime() <= Date.now()) {
        await this.#expire(db, await requests.expireDue(db, row.id));
        return { expired: true as const };
      }
      if (row.state === 'expired') return { expired: true as const };
      if (row.state !== 'pending') {
        throw new AirlockError('approval.already_decided', `approval request ${row.id} is already ${row.state}; it cannot change`, { state: row.state });
      }
      const reason = decision.decision === 'deny' ? denialReason(decision.reason) : decision.reason?.trim() || null;
      const recorded = await requests.insertVote(db, row.id, approver, decision.decision, reason, windowSeconds);
      if (!recorded) return { expired: false as const, reply: { approval: await this.#view(db, row), vote: 'already_recorded' as const } };
      const votes = await requests.votes(db, [row.id]);
      const approving = votes.filter((v) => v.decision === 'approve');
      let current = row;
      let grant: GrantRow | undefined;
      if (decision.decision === 'deny') {
        current = (await requests.decide(db, row.id, 'denied', reason, null))!;
      } else if (approving.length >= row.quorum) {
        const kind = grantForVotes(approving.map((v) => ({ windowSeconds: v.window_seconds })));
        const seconds = kind.kind === 'window' ? kind.seconds : this.#settings.oneShotSeconds;
        current = (await requests.decide(db, row.id, 'granted', reason, kind.kind === 'window' ? kind.seconds : null))!;
        grant = await grants.insert(db, randomUUID(), current, kind.kind, seconds);
      }
      const view = toView(current, votes);
      await outbox.enqueue(db, [
        {
          channel: 'bus',
          topic: 'decided',
          requestId: row.request_id,
          traceparent: ctx.traceparent,
          payload: this.#decidedEvent(current, {
            state: current.state,
            approver,
            approvals: approving.length,
            ...(reason ? { reason } : {}),
            ...(windowSeconds ? { windowSeconds } : {}),
            ...(grant ? { grant: { grantId: grant.id, kind: grant.kind, expiresAt: iso(grant.expires_at) } } : {}),
          }),
        },
        ...(current.state === 'pending' ? [] : this.#decidedMessages(view, approver)),
      ]);
      return { expired: false as const, reply: { approval: view, vote: 'recorded' as const } };
    });
    this.#announce();
    if (outcome.expired) throw new AirlockError('approval.expired', `approval request ${approvalId} expired before a decision; it cannot change`);
    return outcome.reply;
  }

  #decidedEvent(row: RequestRow, fields: Omit<approvalV1.ApprovalDecided, 'id' | 'time' | 'approvalId' | 'quorum'>): Record<string, unknown> {
    return {
      id: randomUUID(),
      time: new Date().toISOString(),
      approvalId: row.id,
      requestId: row.request_id,
      sessionId: row.session_id,
      quorum: row.quorum,
      ...fields,
    };
  }

  #requested(row: RequestRow, view: approvalV1.ApprovalView, ctx: CallContext): OutboxItem[] {
    const how = howToDecide(this.#settings.apiBaseUrl(), row.id);
    return [
      {
        channel: 'bus',
        topic: 'requested',
        requestId: row.request_id,
        traceparent: ctx.traceparent,
        payload: {
          id: randomUUID(),
          time: new Date().toISOString(),
          requestId: row.request_id,
          sessionId: row.session_id,
          approvalId: row.id,
          principal: row.principal,
          connection: row.connection,
          sql: row.sql,
          fingerprint: row.fingerprint,
          kind: row.kind,
          tables: row.tables,
          rule: row.rule,
          approverGroups: row.approver_groups,
          quorum: row.quorum,
          expiresAt: iso(row.expires_at),
          ...(row.justification ? { justification: row.justification } : {}),
        },
      },
      ...this.#settings.webhooks.map(
        (w): OutboxItem => ({ channel: 'webhook', topic: w.format, target: w.url, payload: w.format === 'slack' ? requestedSlack(view, how) : requestedJson(view, how) }),
      ),
    ];
  }

  #decidedMessages(view: approvalV1.ApprovalView, approver: Principal | undefined): OutboxItem[] {
    const how = howToDecide(this.#settings.apiBaseUrl(), view.approvalId);
    const who = approver ? person(approver) : undefined;
    return this.#settings.webhooks.map(
      (w): OutboxItem => ({
        channel: 'webhook',
        topic: w.format,
        target: w.url,
        payload: w.format === 'slack' ? decidedSlack(view, who) : decidedJson(view, who, how),
      }),
    );
  }

  #grantUsed(grant: GrantRow, req: approvalV1.SubmitApprovalRequest, ctx: CallContext): OutboxItem {
    return {
      channel: 'bus',
      topic: 'grant-used',
      requestId: req.requestId,
      traceparent: ctx.traceparent,
      payload: {
        id: randomUUID(),
        time: new Date().toISOString(),
        requestId: req.requestId,
        sessionId: req.sessionId,
        approvalId: grant.approval_id,
        grantId: grant.id,
        kind: grant.kind,
        principal: req.principal,
        connection: req.connection,
        fingerprint: req.fingerprint,
      },
    };
  }
}
