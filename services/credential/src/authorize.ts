import type { Connection } from '@airlock/config';
import { approvalV1, policyV1, type credentialV1 } from '@airlock/contracts';
import { Value } from '@sinclair/typebox/value';
import { TrustedKeys, tokenKinds, type Bus } from '@airlock/runtime';

/**
 * Whether policy decided exactly this lease: a valid decision signed by the policy service for this principal,
 * session, connection and scope, for a role the connection configures, and (when it required approval) a grant
 * signed by the approval service for that decision. Resolves to the decision's id, which mints at most one lease;
 * rejects with the reason in words (never the token).
 */
export type Authorize = (req: credentialV1.IssueLeaseRequest, connection: Connection) => Promise<string>;

export function decisionCheck(bus: Bus): Authorize {
  const decisionKeys = new TrustedKeys(bus, policyV1.keys, tokenKinds.decision);
  const grantKeys = new TrustedKeys(bus, approvalV1.keys, tokenKinds.grant);
  return async (req, connection) => {
    if (!Object.values(connection.roles).includes(req.scope.role)) {
      throw new Error(`role "${req.scope.role}" is not one of the roles connection "${req.connection}" configures`);
    }
    if (!req.decision) throw new Error('the request carries no signed policy decision');
    const claims = await decisionKeys.verify(req.decision).catch((err: Error) => {
      throw new Error(`the policy decision does not verify: ${err.message}`);
    });
    if (!Value.Check(policyV1.DecisionClaims, claims)) throw new Error('the policy decision has unexpected claims');
    const d = claims as policyV1.DecisionClaims;
    if (d.sub !== req.principal.subject || d.pis !== req.principal.issuer) throw new Error('the policy decision is for another principal');
    if (d.con !== req.connection || d.ses !== req.sessionId) throw new Error('the policy decision is for another connection or session');
    if (!d.scope || d.scope.role !== req.scope.role || d.scope.ttl !== req.scope.ttlSeconds || d.scope.mode !== req.scope.leaseMode) {
      throw new Error('the policy decision grants another scope');
    }
    if (d.out === 'deny') throw new Error('the policy decision refused the statement');
    if (d.out === 'approval-required') {
      if (!req.grant) throw new Error('the policy decision requires approval and the request carries no signed grant');
      const grant = await grantKeys.verify(req.grant).catch((err: Error) => {
        throw new Error(`the approval grant does not verify: ${err.message}`);
      });
      if (!Value.Check(approvalV1.GrantClaims, grant) || grant.dec !== d.jti) throw new Error('the approval grant is for another decision');
    }
    return d.jti;
  };
}
