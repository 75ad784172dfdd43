import { approvalV1, policyV1 } from '@airlock/contracts';
import { AirlockError, digest, type Signer, type TrustedKeys } from '@airlock/runtime';
import { Value } from '@sinclair/typebox/value';
import type { Bound } from './store/requests.js';

/** How long a signed grant may be presented to the credential service: the statement is about to run. */
export const grantTtlSeconds = 120;

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The submit as the signed policy decision vouches for it: principal, connection, statement, parameters, rule,
 * approvers and quorum must all be the decision's own. Anything else is refused: a front door cannot choose who approves.
 */
export async function boundSubmit(keys: TrustedKeys, req: approvalV1.SubmitApprovalRequest): Promise<Bound & { decisionId: string }> {
  const refuse = (why: string) => new AirlockError('approval.untrusted_decision', `approval request refused: ${why}`);
  if (!req.decision) throw refuse('it carries no signed policy decision');
  let claims: Record<string, unknown>;
  try {
    claims = await keys.verify(req.decision);
  } catch (err) {
    throw refuse(`the policy decision does not verify: ${(err as Error).message}`);
  }
  if (!Value.Check(policyV1.DecisionClaims, claims)) throw refuse('the policy decision has unexpected claims');
  const d = claims as policyV1.DecisionClaims;
  if (d.out !== 'approval-required' || !d.appr) throw refuse('the policy decision does not require approval');
  if (d.sub !== req.principal.subject || d.pis !== req.principal.issuer) throw refuse('the policy decision is for another principal');
  if (d.con !== req.connection || d.ses !== req.sessionId) throw refuse('the policy decision is for another connection or session');
  if (d.fp !== req.fingerprint || d.sd !== digest(req.sql) || d.kind !== req.kind || !same(d.tbl, req.tables)) {
    throw refuse('the statement differs from the one policy decided');
  }
  if (d.rule !== req.rule) throw refuse('the rule differs from the one that decided');
  if (!same(d.appr.groups, req.approverGroups) || d.appr.quorum !== req.quorum) {
    throw refuse('approvers and quorum come from the policy decision only, and these differ from it');
  }
  const params = req.params ?? [];
  if (digest(params) !== d.pd) throw refuse('the bind parameters differ from the ones policy decided');
  return { ...req, params, paramsDigest: d.pd, decisionId: d.jti };
}

/** The grant token the credential service requires for a decision that needed approval. */
export async function signGrant(signer: Signer, req: Bound & { decisionId: string }, approvalId: string, grantId: string): Promise<string> {
  const claims: Omit<approvalV1.GrantClaims, 'jti'> = {
    dec: req.decisionId,
    aid: approvalId,
    gid: grantId,
    sub: req.principal.subject,
    con: req.connection,
    fp: req.fingerprint,
    pd: req.paramsDigest,
  };
  return (await signer.sign({ ...claims }, grantTtlSeconds)).token;
}
