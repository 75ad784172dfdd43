import type pg from 'pg';

/** A lease as the console shows it: no secret (the lease table holds none). */
export interface LeaseView {
  leaseId: string;
  connection: string;
  username: string;
  role: string;
  mode: string;
  subject: string;
  sessionId: string;
  state: string;
  createdAt: string;
  expiresAt: string;
}

/**
 * Reads the credential service's lease table (read-only: revocation goes through `credential.v1.revoke`, the one
 * path that ends sessions and drops the credential). In a split deployment the console's database user needs
 * SELECT on `leases` and nothing more.
 */
export async function liveLeases(pool: pg.Pool): Promise<LeaseView[]> {
  const { rows } = await pool
    .query<{ id: string; connection: string; username: string; role: string; mode: string; subject: string; session_id: string; state: string; created_at: Date; expires_at: Date }>(
      `SELECT id, connection, username, role, mode, subject, session_id, state, created_at, expires_at
         FROM leases WHERE state IN ('active', 'revoking', 'irrevocable') ORDER BY connection, created_at`,
    )
    .catch((err: { code?: string }) => {
      // before the credential service has created its table there is simply no lease
      if (err.code === '42P01') return { rows: [] };
      throw err;
    });
  return rows.map((r) => ({
    leaseId: r.id,
    connection: r.connection,
    username: r.username,
    role: r.role,
    mode: r.mode,
    subject: r.subject,
    sessionId: r.session_id,
    state: r.state,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
  }));
}
