import type { policyV1, StatementKind } from '@airlock/contracts';
import { digest, type Signer } from '@airlock/runtime';

/** How long a signed decision may be acted on: the statement's own life, including a hold for approval. */
export const decisionTtlSeconds = 300;

/** The digest of no bind parameters: what a statement sent without any is bound to. */
export const noParams = digest([]);

/** What one decision binds: the request it answers and everything a later service acts on, and whether it may be reused. */
export function decisionClaims(req: policyV1.DecideRequest, d: policyV1.Decision, reuse?: policyV1.DecisionClaims['reuse']): Omit<policyV1.DecisionClaims, 'jti'> {
  return {
    sub: req.principal.subject,
    pis: req.principal.issuer,
    req: req.requestId,
    ses: req.sessionId,
    con: req.connection,
    fp: d.analysis?.fingerprint ?? '',
    sd: digest(d.analysis?.normalized ?? req.sql.trim()),
    kind: d.analysis?.kind ?? 'other',
    tbl: d.analysis?.tables.map((t) => `${t.schema}.${t.table}`) ?? [],
    pd: req.paramsDigest ?? noParams,
    out: d.outcome,
    rule: d.rule,
    scope: d.scope ? { role: d.scope.role, ttl: d.scope.ttlSeconds, mode: d.scope.leaseMode } : null,
    appr: d.approval ? { groups: d.approval.approverGroups, quorum: d.approval.quorum } : null,
    mask: digest(d.masking),
    an: digest(d.analysis),
    ...(reuse ? { reuse } : {}),
  };
}

/**
 * Whether the proxy may act on `d` again for the same statement text on the same session: an allowed statement that
 * runs on the session's own lease, needs no approval, and leaves nothing behind on the session (no transaction
 * control, no setting, no prepared statement or cursor). Such a decision does not depend on the parameters: policy
 * decides from the text alone (only their digest reaches it, and only approvals bind it).
 */
export function reusable(d: policyV1.Decision): boolean {
  const a = d.analysis;
  return (
    d.outcome === 'allow' &&
    d.approval === null &&
    d.scope?.leaseMode === 'session' &&
    d.rule !== 'builtin:session' &&
    a !== null &&
    a.statementCount === 1 &&
    a.transaction === undefined &&
    a.named === undefined &&
    a.kinds.every((k) => reusableKinds.has(k))
  );
}

/** Statements that read or write rows and change nothing else: no DDL (it changes what other decisions saw), no SET. */
const reusableKinds: ReadonlySet<StatementKind> = new Set(['select', 'insert', 'update', 'delete', 'merge', 'show', 'explain']);

/**
 * The decision with its signed token. Signed after the cache lookup, so a cached decision still binds this request.
 * `reuse` is signed in only for a decision that is `reusable`.
 */
export async function signDecision(signer: Signer, req: policyV1.DecideRequest, d: policyV1.Decision, reuse?: policyV1.DecisionClaims['reuse']): Promise<policyV1.Decision> {
  const { token } = await signer.sign({ ...decisionClaims(req, d, reuse !== undefined && reusable(d) ? reuse : undefined) }, decisionTtlSeconds);
  return { ...d, token };
}
