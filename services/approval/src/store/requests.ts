import type pg from 'pg';
import type { Principal, approvalV1 } from '@airlock/contracts';

export type Queryable = pg.Pool | pg.PoolClient;

export interface RequestRow {
  id: string;
  request_id: string;
  session_id: string;
  subject: string;
  issuer: string;
  principal: Principal;
  connection: string;
  sql: string;
  fingerprint: string;
  kind: approvalV1.SubmitApprovalRequest['kind'];
  tables: string[];
  rule: string | null;
  approver_groups: string[];
  quorum: number;
  justification: string | null;
  params: Array<string | null>;
  params_digest: string;
  state: approvalV1.ApprovalState;
  reason: string | null;
  window_seconds: number | null;
  created_at: Date;
  expires_at: Date;
  decided_at: Date | null;
}

/** A submit whose statement, approvers and parameters the signed decision vouches for. */
export type Bound = approvalV1.SubmitApprovalRequest & { paramsDigest: string };

export interface VoteRow {
  approval_id: string;
  subject: string;
  issuer: string;
  principal: Principal;
  decision: 'approve' | 'deny';
  reason: string | null;
  window_seconds: number | null;
  created_at: Date;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Approval ids are UUIDs; anything else is simply not found (and never reaches SQL as a malformed uuid). */
export function isApprovalId(id: string): boolean {
  return uuid.test(id);
}

/** The requests, and their votes, as SQL. Every state change is conditional on `state = 'pending'`. */
export const requests = {
  async get(db: Queryable, id: string, options: { lock?: boolean } = {}): Promise<RequestRow | undefined> {
    if (!isApprovalId(id)) return undefined;
    const { rows } = await db.query<RequestRow>(`SELECT * FROM approval_requests WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0];
  },

  /** The open request for this principal and statement that is still within its time. */
  async findOpen(db: Queryable, req: Bound): Promise<RequestRow | undefined> {
    const { rows } = await db.query<RequestRow>(
      `SELECT * FROM approval_requests
        WHERE subject = $1 AND issuer = $2 AND connection = $3 AND fingerprint = $4 AND params_digest = $5 AND state = 'pending' AND expires_at > now()`,
      [req.principal.subject, req.principal.issuer, req.connection, req.fingerprint, req.paramsDigest],
    );
    return rows[0];
  },

  /** Inserts a pending request; undefined when another copy inserted the open one for the same statement first. */
  async insert(db: Queryable, id: string, req: Bound, ttlSeconds: number): Promise<RequestRow | undefined> {
    const { rows } = await db.query<RequestRow>(
      `INSERT INTO approval_requests (id, request_id, session_id, subject, issuer, principal, connection, sql, fingerprint, kind, tables, rule,
                                      approver_groups, quorum, justification, state, expires_at, params, params_digest)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'pending', now() + make_interval(secs => $16), $17, $18)
       ON CONFLICT (subject, issuer, connection, fingerprint, params_digest) WHERE state = 'pending' DO NOTHING
       RETURNING *`,
      [
        id,
        req.requestId,
        req.sessionId,
        req.principal.subject,
        req.principal.issuer,
        req.principal,
        req.connection,
        req.sql,
        req.fingerprint,
        req.kind,
        req.tables,
        req.rule,
        req.approverGroups,
        req.quorum,
        req.justification ?? null,
        ttlSeconds,
        JSON.stringify(req.params ?? []),
        req.paramsDigest,
      ],
    );
    return rows[0];
  },

  /** Moves pending requests past their time to `expired`; `id` limits it to one. Returns the rows it changed. */
  async expireDue(db: Queryable, id?: string): Promise<RequestRow[]> {
    if (id !== undefined && !isApprovalId(id)) return [];
    const { rows } = await db.query<RequestRow>(
      `UPDATE approval_requests
          SET state = 'expired', decided_at = now(),
              reason = format('no decision within %s s: send the statement again to ask anew', round(extract(epoch FROM expires_at - created_at)))
        WHERE state = 'pending' AND expires_at <= now() ${id ? 'AND id = $1' : ''}
        RETURNING *`,
      id ? [id] : [],
    );
    return rows;
  },

  async decide(
    db: Queryable,
    id: string,
    state: 'granted' | 'denied',
    reason: string | null,
    windowSeconds: number | null,
  ): Promise<RequestRow | undefined> {
    const { rows } = await db.query<RequestRow>(
      `UPDATE approval_requests SET state = $2, reason = $3, window_seconds = $4, decided_at = now()
        WHERE id = $1 AND state = 'pending' RETURNING *`,
      [id, state, reason, windowSeconds],
    );
    return rows[0];
  },

  /** Requests the caller may decide (one of its groups approves them) or made themselves, newest first. */
  async list(db: Queryable, caller: Principal, state: approvalV1.ApprovalState | undefined, limit = 200): Promise<RequestRow[]> {
    const { rows } = await db.query<RequestRow>(
      `SELECT * FROM approval_requests
        WHERE ($1::text IS NULL OR state = $1)
          AND (approver_groups && $2::text[] OR (subject = $3 AND issuer = $4))
        ORDER BY created_at DESC LIMIT $5`,
      [state ?? null, caller.groups, caller.subject, caller.issuer, limit],
    );
    return rows;
  },

  /** Records one vote per distinct approver; false when this approver had already voted. */
  async insertVote(
    db: Queryable,
    id: string,
    approver: Principal,
    decision: 'approve' | 'deny',
    reason: string | null,
    windowSeconds: number | null,
  ): Promise<boolean> {
    const { rowCount } = await db.query(
      `INSERT INTO approval_votes (approval_id, subject, issuer, principal, decision, reason, window_seconds)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (approval_id, subject, issuer) DO NOTHING`,
      [id, approver.subject, approver.issuer, approver, decision, reason, windowSeconds],
    );
    return rowCount === 1;
  },

  async votes(db: Queryable, ids: readonly string[]): Promise<VoteRow[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query<VoteRow>('SELECT * FROM approval_votes WHERE approval_id = ANY($1::uuid[]) ORDER BY created_at, subject', [ids]);
    return rows;
  },
};
