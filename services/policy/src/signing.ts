import type { policyV1 } from '@airlock/contracts';
import { digest, type Signer } from '@airlock/runtime';

/** How long a signed decision may be acted on: the statement's own life, including a hold for approval. */
export const decisionTtlSeconds = 300;

/** The digest of no bind parameters: what a statement sent without any is bound to. */
export const noParams = digest([]);

/** What one decision binds: the request it answers and everything a later service acts on. */
export function decisionClaims(req: policyV1.DecideRequest, d: policyV1.Decision): Omit<policyV1.DecisionClaims, 'jti'> {
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
  };
}

/** The decision with its signed token. Signed after the cache lookup, so a cached decision still binds this request. */
export async function signDecision(signer: Signer, req: policyV1.DecideRequest, d: policyV1.Decision): Promise<policyV1.Decision> {
  const { token } = await signer.sign({ ...decisionClaims(req, d) }, decisionTtlSeconds);
  return { ...d, token };
}
