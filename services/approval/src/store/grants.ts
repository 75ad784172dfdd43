import type { approvalV1 } from '@airlock/contracts';
import type { GrantScope } from '../grants.js';
import type { Bound, Queryable, RequestRow } from './requests.js';

export interface GrantRow {
  id: string;
  approval_id: string;
  kind: approvalV1.GrantKind;
  subject: string;
  issuer: string;
  connection: string;
  fingerprint: string;
  statement_kind: string;
  tables: string[];
  params_digest: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_request_id: string | null;
}

export function scopeOf(row: GrantRow): GrantScope {
  return {
    kind: row.kind,
    subject: row.subject,
    issuer: row.issuer,
    connection: row.connection,
    fingerprint: row.fingerprint,
    statementKind: row.statement_kind,
    tables: row.tables,
    expiresAt: new Date(row.expires_at),
    usedAt: row.used_at ? new Date(row.used_at) : null,
  };
}

/** Grants as SQL. A one-shot grant is consumed by one conditional UPDATE, so two proxies can never both use it. */
export const grants = {
  async insert(db: Queryable, id: string, request: RequestRow, kind: approvalV1.GrantKind, seconds: number): Promise<GrantRow> {
    const { rows } = await db.query<GrantRow>(
      `INSERT INTO approval_grants (id, approval_id, kind, subject, issuer, connection, fingerprint, statement_kind, tables, expires_at, params_digest)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10), $11) RETURNING *`,
      [id, request.id, kind, request.subject, request.issuer, request.connection, request.fingerprint, request.kind, request.tables, seconds, request.params_digest],
    );
    return rows[0]!;
  },

  /** Marks one unused, unexpired one-shot grant for exactly this principal, connection, fingerprint and parameters as used. */
  async consumeOneShot(db: Queryable, req: Bound): Promise<GrantRow | undefined> {
    if (req.fingerprint === '') return undefined;
    const { rows } = await db.query<GrantRow>(
      `UPDATE approval_grants SET used_at = now(), used_request_id = $5
        WHERE id = (SELECT id FROM approval_grants
                     WHERE kind = 'one-shot' AND subject = $1 AND issuer = $2 AND connection = $3 AND fingerprint = $4
                       AND params_digest = $6 AND used_at IS NULL AND expires_at > now()
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND used_at IS NULL
        RETURNING *`,
      [req.principal.subject, req.principal.issuer, req.connection, req.fingerprint, req.requestId, req.paramsDigest],
    );
    return rows[0];
  },

  /** Unexpired time-window grants of this principal on this connection for this statement kind; tables are matched by the caller. */
  async windowCandidates(db: Queryable, req: approvalV1.SubmitApprovalRequest): Promise<GrantRow[]> {
    const { rows } = await db.query<GrantRow>(
      `SELECT * FROM approval_grants
        WHERE kind = 'window' AND subject = $1 AND issuer = $2 AND connection = $3 AND statement_kind = $4 AND expires_at > now()
        ORDER BY expires_at DESC`,
      [req.principal.subject, req.principal.issuer, req.connection, req.kind],
    );
    return rows;
  },

  async forApproval(db: Queryable, approvalId: string): Promise<GrantRow[]> {
    const { rows } = await db.query<GrantRow>('SELECT * FROM approval_grants WHERE approval_id = $1 ORDER BY created_at', [approvalId]);
    return rows;
  },
};
