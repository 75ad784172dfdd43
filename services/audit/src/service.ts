import type pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { AirlockError, createHttpServer, type Bus, type Logger } from '@airlock/runtime';
import { AuditStore, migrateAudit } from './store/events.js';

export interface AuditDeps {
  bus: Bus;
  pool: pg.Pool;
  logger: Logger;
  http: { host: string; port: number };
  /** verifies a reader's bearer token and returns its groups; the identity service's verify over the bus */
  authenticate: (token: string) => Promise<{ subject: string; groups: string[] }>;
  readerGroups: string[];
  durableName?: string;
}

export interface AuditService {
  store: AuditStore;
  http: FastifyInstance;
  port: number;
  close(): Promise<void>;
}

/** Writes every lifecycle event, exactly once and in stream order, to the hash-chained audit table; serves reads. */
export async function startAudit(deps: AuditDeps): Promise<AuditService> {
  await migrateAudit(deps.pool);
  const store = new AuditStore(deps.pool);
  await deps.bus.consume(deps.durableName ?? 'airlock-audit', async (event) => {
    if (typeof event.payload !== 'object' || event.payload === null || typeof (event.payload as { id?: unknown }).id !== 'string') {
      deps.logger.warn({ subject: event.subject }, 'event without an id: recorded under its stream sequence');
    }
    const payload = event.payload as Record<string, unknown>;
    const withId = typeof payload?.['id'] === 'string' ? payload : { ...payload, id: `00000000-0000-4000-8000-${String(event.streamSequence).padStart(12, '0')}`, time: new Date().toISOString() };
    await store.append(event.subject, withId);
  });

  const http = createHttpServer({ logger: deps.logger });
  const reader = async (authorization: string | undefined) => {
    const token = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new AirlockError('identity.missing_token', 'send an OIDC token as "Authorization: Bearer <token>"');
    const who = await deps.authenticate(token);
    if (!who.groups.some((g) => deps.readerGroups.includes(g))) {
      throw new AirlockError('audit.forbidden', `reading the audit log needs one of the groups: ${deps.readerGroups.join(', ')}`);
    }
    return who;
  };
  http.get('/healthz', async () => ({ ok: true }));
  http.get<{ Querystring: { sessionId?: string; requestId?: string; principal?: string; type?: string; limit?: string; afterSeq?: string } }>(
    '/v1/events',
    async (req) => {
      await reader(req.headers.authorization);
      const q = req.query;
      const rows = await store.search({
        ...(q.sessionId ? { sessionId: q.sessionId } : {}),
        ...(q.requestId ? { requestId: q.requestId } : {}),
        ...(q.principal ? { principal: q.principal } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.limit ? { limit: Number(q.limit) } : {}),
        ...(q.afterSeq ? { afterSeq: Number(q.afterSeq) } : {}),
      });
      return { events: rows.map((r) => ({ seq: r.seq, subject: r.subject, type: r.event_type, time: r.event_time, hash: r.hash, payload: r.payload })) };
    },
  );
  http.get('/v1/verify', async (req) => {
    await reader(req.headers.authorization);
    return store.verify();
  });
  await http.listen({ host: deps.http.host, port: deps.http.port });
  const port = (http.server.address() as { port: number }).port;
  return {
    store,
    http,
    port,
    close: async () => {
      await http.close();
    },
  };
}
