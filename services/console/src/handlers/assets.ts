import type { FastifyInstance } from 'fastify';
import { consoleCss, consoleJs, faviconSvg } from '../assets.js';

/** `/healthz` and the console's own static files. */
export function assetRoutes(http: FastifyInstance): void {
  http.get('/healthz', async () => ({ ok: true }));
  http.get('/assets/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(consoleCss));
  http.get('/assets/console.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(consoleJs));
  http.get('/assets/favicon.svg', async (_req, reply) => reply.type('image/svg+xml').send(faviconSvg));
}
