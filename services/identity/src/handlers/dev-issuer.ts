import type { FastifyInstance } from 'fastify';
import { createHttpServer, type Logger } from '@airlock/runtime';
import type { DevKey } from '../store/dev-keys.js';

/** The development issuer's discovery document and JWKS (demo mode only), so verifiers find its key as any issuer's. */
export function devIssuerHttp(logger: Logger, key: DevKey, issuer: string): FastifyInstance {
  const app = createHttpServer({ logger });
  const base = new URL(issuer);
  const prefix = base.pathname.replace(/\/$/, '');
  app.get(`${prefix}/.well-known/openid-configuration`, async () => ({
    issuer,
    jwks_uri: `${issuer.replace(/\/$/, '')}/jwks`,
    id_token_signing_alg_values_supported: ['ES256'],
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
  }));
  app.get(`${prefix}/jwks`, async () => ({ keys: [key.publicJwk] }));
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
