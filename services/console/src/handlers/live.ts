import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AirlockError } from '@airlock/runtime';
import type { LiveEvent } from '../live.js';
import type { ConsoleWeb } from '../web.js';

const topics = {
  approvals: { role: 'approver', match: (e: LiveEvent) => e.type.startsWith('approval.') },
  leases: { role: 'admin', match: (e: LiveEvent) => e.type.startsWith('credential.') },
  audit: { role: 'auditor', match: () => true },
} as const;

/** `/live`: Server-Sent Events for one topic, to a person whose role may see it. Returns the open streams, ended on close. */
export function liveRoutes(http: FastifyInstance, web: ConsoleWeb): Set<ServerResponse> {
  const streams = new Set<ServerResponse>();
  http.get('/live', async (req, reply) => {
    const name = (req.query as Record<string, unknown>)['topic'];
    const topic = typeof name === 'string' && Object.hasOwn(topics, name) ? topics[name as keyof typeof topics] : undefined;
    if (!topic) throw new AirlockError('runtime.invalid_request', 'topic must be approvals, leases or audit');
    const s = await web.signedIn(req);
    if (!s) throw new AirlockError('console.not_signed_in', 'sign in to the console first');
    if (!s.viewer.roles[topic.role]) throw new AirlockError('console.forbidden', `this stream needs the ${topic.role} role`);
    // followed before the stream says it is ready: an event published after `ready` reaches this connection
    const res = reply.raw;
    let ready = false;
    const unsubscribe = await web.live.subscribe((e) => {
      if (!ready || !topic.match(e)) return;
      res.write(name === 'audit' ? `event: event\ndata: ${JSON.stringify(e)}\n\n` : `event: change\ndata: ${JSON.stringify({ type: e.type })}\n\n`);
    });
    if (req.raw.destroyed) {
      // the page left while the consumer opened: nothing to answer, and nothing for Fastify to answer either
      unsubscribe();
      reply.hijack();
      return;
    }
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('event: ready\ndata: {}\n\n');
    ready = true;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    req.raw.on('close', end);
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  return streams;
}
