import type { approvalV1 } from '@airlock/contracts';

/** What a grant lets through, as stored. */
export interface GrantScope {
  kind: approvalV1.GrantKind;
  subject: string;
  issuer: string;
  connection: string;
  fingerprint: string;
  statementKind: string;
  tables: readonly string[];
  expiresAt: Date;
  usedAt: Date | null;
}

/** The statement a front door holds, as it asks. */
export interface HeldStatement {
  subject: string;
  issuer: string;
  connection: string;
  fingerprint: string;
  kind: string;
  tables: readonly string[];
}

/**
 * Whether a grant lets this statement through at `now`. A one-shot grant: the same principal, connection and
 * statement fingerprint, not used yet, within its use window. A time-window grant: the same principal and
 * connection, the same statement kind, every table of the statement among the grant's tables, before its end.
 */
export function grantCovers(grant: GrantScope, statement: HeldStatement, now: Date): boolean {
  if (grant.subject !== statement.subject || grant.issuer !== statement.issuer) return false;
  if (grant.connection !== statement.connection) return false;
  if (grant.expiresAt.getTime() <= now.getTime()) return false;
  if (grant.kind === 'one-shot') return grant.usedAt === null && grant.fingerprint !== '' && grant.fingerprint === statement.fingerprint;
  if (grant.statementKind !== statement.kind) return false;
  const allowed = new Set(grant.tables);
  return statement.tables.every((t) => allowed.has(t));
}

export interface ApprovingVote {
  windowSeconds: number | null;
}

/**
 * The grant a request gets once its quorum of approvals is reached. A time window needs every approver who
 * counted to have agreed to one, and is the shortest they gave; otherwise the grant is one-shot.
 */
export function grantForVotes(votes: readonly ApprovingVote[]): { kind: 'one-shot' } | { kind: 'window'; seconds: number } {
  if (votes.length === 0 || votes.some((v) => v.windowSeconds === null)) return { kind: 'one-shot' };
  return { kind: 'window', seconds: Math.min(...votes.map((v) => v.windowSeconds!)) };
}
