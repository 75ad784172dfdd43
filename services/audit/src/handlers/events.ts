import type { FastifyInstance } from 'fastify';
import type { AuditStore, EventFilter } from '../store/events.js';
import { date, integer, text, type Query } from './query.js';

type Reader = (authorization: string | undefined) => Promise<unknown>;

/** `GET /v1/events`: the stored events, filtered, in chain order. */
export function eventRoutes(http: FastifyInstance, reader: Reader, store: AuditStore): void {
  http.get<{ Querystring: Query }>('/v1/events', async (req) => {
    await reader(req.headers.authorization);
    const q = req.query;
    const filter: EventFilter = {};
    const set = <K extends keyof EventFilter>(k: K, v: EventFilter[K] | undefined) => {
      if (v !== undefined) filter[k] = v;
    };
    set('sessionId', text(q, 'sessionId'));
    set('requestId', text(q, 'requestId'));
    set('principal', text(q, 'principal'));
    set('type', text(q, 'type'));
    set('afterSeq', integer(q, 'afterSeq', 0));
    set('from', date(q, 'from'));
    set('to', date(q, 'to'));
    set('limit', integer(q, 'limit', 1));
    set('tail', integer(q, 'tail', 1));
    const rows = await store.search(filter);
    return { events: rows.map((r) => ({ seq: r.seq, subject: r.subject, type: r.event_type, time: r.event_time, hash: r.hash, payload: r.payload })) };
  });
}
