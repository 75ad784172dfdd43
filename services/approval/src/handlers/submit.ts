import { approvalV1, policyV1 } from '@airlock/contracts';
import { TrustedKeys, tokenKinds, type Bus, type Counter, type Logger, type Signer } from '@airlock/runtime';
import type { Approvals } from '../approvals.js';
import { boundSubmit, signGrant } from '../decisions.js';

/**
 * `approval.v1.submit`: holds a statement whose signed decision requires approval; answers with a signed grant when
 * a standing approval already covers it.
 */
export function serveSubmit(bus: Bus, parts: { approvals: Approvals; signer: Signer; logger: Logger; submissions: Counter<'state'> }): void {
  const { approvals, logger, submissions } = parts;
  const decisionKeys = new TrustedKeys(bus, policyV1.keys, tokenKinds.decision);
  bus.serve(approvalV1.submitApproval, async (req, ctx) => {
    let bound: Awaited<ReturnType<typeof boundSubmit>>;
    try {
      bound = await boundSubmit(decisionKeys, req);
    } catch (err) {
      submissions.inc({ state: 'refused' });
      logger.error({ connection: req.connection, subject: req.principal.subject, requestId: ctx.requestId, err: (err as Error).message }, 'approval submit refused');
      throw err;
    }
    const { status, grantId } = await approvals.submit(bound, ctx);
    submissions.inc({ state: status.state });
    logger.info({ approvalId: status.approvalId, state: status.state, connection: req.connection, rule: bound.rule, requestId: ctx.requestId }, 'approval submit');
    return grantId ? { ...status, grant: await signGrant(parts.signer, bound, status.approvalId, grantId) } : status;
  });
}
