import type { FastifyInstance } from 'fastify';
import type { approvalV1 } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import { approvalList, approvalsPage } from '../views/approvals.js';
import type { ConsoleWeb, Signed } from '../web.js';

/** The approver's pages: pending requests, approve and deny, each through the approval API as the signed-in person. */
export function approvalRoutes(http: FastifyInstance, web: ConsoleWeb): void {
  const pending = async (s: Signed) =>
    (await web.approvalsApi.get<approvalV1.ApprovalList>('/v1/approvals?state=pending', await web.bearer(s.session, 'approval'))).approvals;
  http.get(
    '/approvals',
    web.withRole('approver', async (req, reply, s) => web.sendPage(reply, approvalsPage(s.viewer, await pending(s), web.acting(s.session), web.takeFlash(req, reply)))),
  );
  http.get(
    '/approvals/list',
    web.withRole('approver', async (_req, reply, s) => web.sendPage(reply, approvalList(await pending(s), web.acting(s.session), s.viewer.csrf))),
  );
  const decide = (decision: 'approve' | 'deny') =>
    web.withRole('approver', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      const body = (req.body ?? {}) as Record<string, string | undefined>;
      const reason = body['reason']?.trim();
      const payload =
        decision === 'approve'
          ? { ...(body['for'] ? { for: body['for'] } : {}), ...(reason ? { reason } : {}) }
          : { ...(reason ? { reason } : {}) };
      try {
        const reply_ = await web.approvalsApi.post<approvalV1.DecisionReply>(`/v1/approvals/${encodeURIComponent(id)}/${decision}`, await web.bearer(s.session, 'approval'), payload);
        const a = reply_.approval;
        const text =
          decision === 'deny'
            ? `Denied: the agent is told "${reason ?? ''}".`
            : a.state === 'granted'
              ? `Approved${a.windowSeconds ? ` for ${Math.round(a.windowSeconds / 60)} minutes` : ' once'}: the statement runs now.`
              : `Your approval is recorded (${a.approvals} of ${a.quorum}).`;
        web.logger.info({ approvalId: id, decision, by: s.session.principal.subject }, 'decision sent from the console');
        return web.redirectWithFlash(reply, '/approvals', { kind: 'ok', text });
      } catch (err) {
        if (!(err instanceof AirlockError)) throw err;
        return web.redirectWithFlash(reply, '/approvals', { kind: 'error', text: err.message });
      }
    });
  http.post('/approvals/:id/approve', decide('approve'));
  http.post('/approvals/:id/deny', decide('deny'));
}
