import type { FastifyInstance } from 'fastify';
import { approvalV1, identityV1, type Principal } from '@airlock/contracts';
import { AirlockError, createHttpServer, newContext, type Bus, type Logger, type TlsFiles } from '@airlock/runtime';
import type { Approvals } from '../approvals.js';

/**
 * The approvers' API. Every route needs `Authorization: Bearer <the caller's own OIDC token>`, verified by the
 * identity service; decisions are checked against the request (groups, self-approval, state) in `Approvals`.
 */
export function approvalHttp(deps: { approvals: Approvals; bus: Bus; logger: Logger; tls?: TlsFiles | undefined }): FastifyInstance {
  const http = createHttpServer({ logger: deps.logger, bodyLimit: 64 * 1024, ...(deps.tls ? { tls: deps.tls } : {}) });
  const caller = async (authorization: string | undefined): Promise<Principal> => {
    const token = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new AirlockError('identity.missing_token', 'send your own OIDC token as "Authorization: Bearer <token>"');
    // the approval API's own audience: a token made for a database door or another API is refused here
    const { principal } = await deps.bus.call(identityV1.verifyToken, { token, frontend: 'http', door: 'approval' }, newContext());
    return principal;
  };

  // a decision without a body (`curl -X POST …/approve`) is a plain one-shot approval, not a malformed request
  http.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && (req.body === undefined || req.body === null)) req.body = {};
  });

  http.get('/healthz', async () => ({ ok: true }));

  http.get<{ Querystring: approvalV1.ApprovalListQuery }>(
    '/v1/approvals',
    { schema: { querystring: approvalV1.ApprovalListQuery, response: { 200: approvalV1.ApprovalList } } },
    async (req) => {
      const who = await caller(req.headers.authorization);
      const state = req.query.state === 'all' ? undefined : (req.query.state ?? 'pending');
      return { approvals: await deps.approvals.list(who, state) };
    },
  );

  http.get<{ Params: { id: string } }>('/v1/approvals/:id', { schema: { response: { 200: approvalV1.ApprovalView } } }, async (req) => {
    const who = await caller(req.headers.authorization);
    return deps.approvals.get(req.params.id, who);
  });

  http.post<{ Params: { id: string }; Body: approvalV1.ApproveBody | undefined }>(
    '/v1/approvals/:id/approve',
    { schema: { body: approvalV1.ApproveBody, response: { 200: approvalV1.DecisionReply } } },
    async (req) => {
      const who = await caller(req.headers.authorization);
      const body = req.body ?? {};
      return deps.approvals.decide(
        req.params.id,
        who,
        { decision: 'approve', ...(body.for !== undefined ? { for: body.for } : {}), ...(body.reason !== undefined ? { reason: body.reason } : {}) },
        newContext(),
      );
    },
  );

  http.post<{ Params: { id: string }; Body: approvalV1.DenyBody | undefined }>(
    '/v1/approvals/:id/deny',
    { schema: { body: approvalV1.DenyBody, response: { 200: approvalV1.DecisionReply } } },
    async (req) => {
      const who = await caller(req.headers.authorization);
      const reason = req.body?.reason;
      return deps.approvals.decide(req.params.id, who, { decision: 'deny', ...(reason !== undefined ? { reason } : {}) }, newContext());
    },
  );
  return http;
}
