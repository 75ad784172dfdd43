import type https from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TlsFiles } from './tls-files.js';
import { ErrorCodes } from '@airlock/contracts';
import { AirlockError, toEnvelope } from './errors.js';
import type { Logger } from './logger.js';

export interface HttpServerOptions {
  logger: Logger;
  /** maximum request body in bytes */
  bodyLimit?: number;
  /** serve HTTPS with this certificate, taking a renewed one without a restart */
  tls?: TlsFiles;
}

/**
 * Every HTTP surface is a fastify server whose errors are the ErrorEnvelope with the code's one status.
 * Schema validation failures become `runtime.invalid_request` (400).
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'http' }) as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    ...(options.tls ? { https: { ...options.tls.current } } : {}),
  }) as unknown as FastifyInstance;
  if (options.tls) {
    options.tls.onChange((pair) => (app.server as unknown as https.Server).setSecureContext(pair));
  }
  app.setErrorHandler((err: unknown, request, reply) => {
    if (err instanceof AirlockError) {
      void reply.status(err.status).send(err.toEnvelope());
      return;
    }
    const e = err as { validation?: unknown; message?: string; statusCode?: number };
    if (e.validation) {
      void reply.status(400).send({ code: 'runtime.invalid_request', message: e.message ?? 'invalid request' });
      return;
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      void reply.status(e.statusCode).send({ code: 'runtime.invalid_request', message: e.message ?? 'invalid request' });
      return;
    }
    request.log.error({ err: e.message }, 'request failed');
    void reply.status(ErrorCodes['runtime.internal'].status).send(toEnvelope(err));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ code: 'runtime.invalid_request', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  return app;
}
