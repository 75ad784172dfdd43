import type { FastifyInstance } from 'fastify';
import { AirlockError } from '@airlock/runtime';
import type { SessionFilter, SessionStore } from '../store/sessions.js';
import { formatTranscript } from '../transcript.js';
import { date, integer, oneOf, text, type Query } from './query.js';

type Reader = (authorization: string | undefined) => Promise<unknown>;

const decisions = ['allow', 'deny', 'approval-required'] as const;
const outcomes = ['completed', 'failed'] as const;

/** `GET /v1/sessions`, one session, and its replay as text. */
export function sessionRoutes(http: FastifyInstance, reader: Reader, sessions: SessionStore): void {
  const session = async (id: string) => {
    const found = await sessions.get(id);
    if (!found) throw new AirlockError('audit.not_found', `no session ${id} is recorded; list sessions with GET /v1/sessions`);
    return found;
  };
  http.get<{ Querystring: Query }>('/v1/sessions', async (req) => {
    await reader(req.headers.authorization);
    const q = req.query;
    const filter: SessionFilter = {};
    const set = <K extends keyof SessionFilter>(k: K, v: SessionFilter[K] | undefined) => {
      if (v !== undefined) filter[k] = v;
    };
    set('principal', text(q, 'principal'));
    set('connection', text(q, 'connection'));
    set('table', text(q, 'table'));
    set('decision', oneOf(q, 'decision', decisions));
    set('outcome', oneOf(q, 'outcome', outcomes));
    set('from', date(q, 'from'));
    set('to', date(q, 'to'));
    set('limit', integer(q, 'limit', 1));
    return { sessions: await sessions.list(filter) };
  });
  http.get<{ Params: { id: string } }>('/v1/sessions/:id', async (req) => {
    await reader(req.headers.authorization);
    return session(req.params.id);
  });
  http.get<{ Params: { id: string } }>('/v1/sessions/:id/replay', async (req, reply) => {
    await reader(req.headers.authorization);
    const transcript = formatTranscript(await session(req.params.id));
    return reply.type('text/plain; charset=utf-8').send(transcript);
  });
}
