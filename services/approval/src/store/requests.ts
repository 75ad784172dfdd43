import type pg from 'pg';
import { migrate } from '@airlock/runtime';
import type { approvalV1 } from '@airlock/contracts';

const migrations = [
  {
    id: '001-approval-requests',
    sql: `CREATE TABLE approval_requests (
            id uuid PRIMARY KEY,
            request_id text NOT NULL,
            session_id text NOT NULL,
            subject text NOT NULL,
            issuer text NOT NULL,
            principal jsonb NOT NULL,
            connection text NOT NULL,
            sql text NOT NULL,
            fingerprint text NOT NULL,
            kind text NOT NULL,
            tables text[] NOT NULL,
            rule text,
            approver_groups text[] NOT NULL,
            quorum integer NOT NULL,
            justification text,
            state text NOT NULL CHECK (state IN ('pending', 'granted', 'denied', 'expired', 'cancelled')),
            reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            decided_at timestamptz);
          CREATE INDEX approval_requests_lookup ON approval_requests (subject, issuer, connection, fingerprint, state);`,
  },
];

export async function migrateApproval(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'approval', migrations);
}

export interface ApprovalRow {
  id: string;
  state: approvalV1.ApprovalState;
  expires_at: Date;
  quorum: number;
  reason: string | null;
}

export class ApprovalStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Expires what is past its time, then finds the open request for this principal and statement, if any. */
  async findOpen(req: approvalV1.SubmitApprovalRequest): Promise<ApprovalRow | undefined> {
    await this.#pool.query(`UPDATE approval_requests SET state = 'expired', decided_at = now() WHERE state = 'pending' AND expires_at <= now()`);
    const { rows } = await this.#pool.query<ApprovalRow>(
      `SELECT id, state, expires_at, quorum, reason FROM approval_requests
        WHERE subject = $1 AND issuer = $2 AND connection = $3 AND fingerprint = $4 AND state = 'pending'
        ORDER BY created_at DESC LIMIT 1`,
      [req.principal.subject, req.principal.issuer, req.connection, req.fingerprint],
    );
    return rows[0];
  }

  async insert(id: string, req: approvalV1.SubmitApprovalRequest, expiresAt: Date): Promise<ApprovalRow> {
    const { rows } = await this.#pool.query<ApprovalRow>(
      `INSERT INTO approval_requests (id, request_id, session_id, subject, issuer, principal, connection, sql, fingerprint, kind, tables, rule,
                                      approver_groups, quorum, justification, state, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'pending', $16)
       RETURNING id, state, expires_at, quorum, reason`,
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
        expiresAt,
      ],
    );
    return rows[0]!;
  }
}
