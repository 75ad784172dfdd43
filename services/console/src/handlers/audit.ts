import type { FastifyInstance } from 'fastify';
import { AirlockError } from '@airlock/runtime';
import { auditPage, replayPage, sessionFilters, sessionsPage, type AuditEvent, type SessionDetail, type SessionQuery, type SessionSummary, type VerifyResult } from '../views/audit.js';
import type { ConsoleWeb } from '../web.js';

/** The auditor's pages: sessions, one session's replay, the log's integrity and tail, through the audit API. */
export function auditRoutes(http: FastifyInstance, web: ConsoleWeb): void {
  http.get(
    '/sessions',
    web.withRole('auditor', async (req, reply, s) => {
      const raw = req.query as Record<string, unknown>;
      const q: SessionQuery = {};
      const params = new URLSearchParams();
      for (const k of sessionFilters) {
        const v = typeof raw[k] === 'string' ? (raw[k] as string).trim() : '';
        if (!v) continue;
        q[k] = v;
        // the form's datetime-local fields carry no zone: the console shows and reads UTC
        params.set(k, (k === 'from' || k === 'to') && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v);
      }
      params.set('limit', '200');
      try {
        const { sessions: list } = await web.auditApi.get<{ sessions: SessionSummary[] }>(`/v1/sessions?${params}`, await web.bearer(s.session, 'audit'));
        return web.sendPage(reply, sessionsPage(s.viewer, q, list));
      } catch (err) {
        if (!(err instanceof AirlockError) || err.code !== 'runtime.invalid_request') throw err;
        return web.sendPage(reply, sessionsPage(s.viewer, q, [], err.message));
      }
    }),
  );
  http.get(
    '/sessions/:id',
    web.withRole('auditor', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      const detail = await web.auditApi.get<SessionDetail>(`/v1/sessions/${encodeURIComponent(id)}`, await web.bearer(s.session, 'audit'));
      return web.sendPage(reply, replayPage(s.viewer, detail));
    }),
  );
  http.get(
    '/audit',
    web.withRole('auditor', async (_req, reply, s) => {
      const token = await web.bearer(s.session, 'audit');
      const [verify, { events }] = await Promise.all([
        web.auditApi.get<VerifyResult>('/v1/verify', token),
        web.auditApi.get<{ events: AuditEvent[] }>('/v1/events?tail=100', token),
      ]);
      return web.sendPage(reply, auditPage(s.viewer, verify, [...events].reverse()));
    }),
  );
}
