import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { AirlockConfig } from '@airlock/config';
import { identityV1 } from '@airlock/contracts';
import { AirlockError, ConfigError, Counter, Registry, createHttpServer, demoMode, type Bus, type Logger } from '@airlock/runtime';
import { TokenVerifier } from './verifier.js';
import { loadOrCreateDevKey, migrateIdentity, type DevKey } from './store/dev-keys.js';
import { defaultDevIssuer, devTokenMaxTtlSeconds } from './dev-issuer.js';
import { SamlVerifier } from './saml.js';

export interface IdentityDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
  http: { host: string; port: number };
  /** the service's Prometheus registry */
  metrics?: Registry;
  /** the environment: the development issuer's key file, and whether this is demo mode (the only place it may run) */
  env: Record<string, string | undefined>;
}

export interface IdentityService {
  verifier: TokenVerifier;
  /** the dev issuer's HTTP server, when enabled */
  http: FastifyInstance | undefined;
  close(): Promise<void>;
}

/** Serves `identity.v1.verify` and, when enabled, the development issuer's discovery and JWKS. */
export async function startIdentity(deps: IdentityDeps): Promise<IdentityService> {
  const { bus, config, logger } = deps;
  const dev = config.identity.devIssuer;
  let devKey: DevKey | undefined;
  let http: FastifyInstance | undefined;
  await migrateIdentity(deps.pool);
  if (dev?.enabled) {
    if (!demoMode(deps.env)) {
      throw new ConfigError([
        'identity.devIssuer.enabled: the development issuer mints any identity with any group, so it runs only in demo mode (`airlock up` without AIRLOCK_CONFIG); turn it off and configure identity.issuers',
      ]);
    }
    devKey = await loadOrCreateDevKey(deps.env);
    http = devIssuerHttp(logger, devKey, dev.issuer ?? defaultDevIssuer);
    await http.listen({ host: deps.http.host, port: deps.http.port });
    logger.warn(
      { issuer: dev.issuer ?? defaultDevIssuer, maxTtlSeconds: devTokenMaxTtlSeconds },
      `development issuer enabled: demo mode only; it mints tokens of at most ${devTokenMaxTtlSeconds / 3600} h`,
    );
  }
  const samlIdps = config.identity.saml ?? [];
  const saml = samlIdps.length > 0 ? new SamlVerifier({ idps: samlIdps, pool: deps.pool, clockSkewSeconds: config.identity.clockSkewSeconds ?? 30 }) : undefined;
  const verifier = new TokenVerifier({ config, ...(devKey ? { devKey } : {}), ...(saml ? { saml } : {}) });
  const verifications = new Counter({
    name: 'airlock_identity_verifications_total',
    help: 'Bearer tokens verified, by outcome (ok or the identity error code)',
    labelNames: ['outcome'],
    registers: [deps.metrics ?? new Registry()],
  });

  bus.serve(identityV1.verifyToken, async (req, ctx) => {
    try {
      const { principal, expiresAt } = await verifier.verify(req.token, req.audience, req.door, req.recheck === true);
      verifications.inc({ outcome: 'ok' });
      await bus.publish(
        identityV1.tokenVerified,
        { principal, requestId: ctx.requestId, ...(req.sessionId ? { sessionId: req.sessionId } : {}), ...(req.frontend ? { frontend: req.frontend } : {}) },
        ctx,
      );
      return { principal, expiresAt: expiresAt.toISOString() };
    } catch (err) {
      if (err instanceof AirlockError && err.code.startsWith('identity.')) {
        verifications.inc({ outcome: err.code });
        logger.info({ code: err.code, requestId: ctx.requestId }, 'token refused');
        await bus.publish(
          identityV1.tokenRefused,
          {
            code: err.code,
            reason: err.message,
            requestId: ctx.requestId,
            ...(req.sessionId ? { sessionId: req.sessionId } : {}),
            ...(req.frontend ? { frontend: req.frontend } : {}),
          },
          ctx,
        );
      }
      throw err;
    }
  });

  return {
    verifier,
    http,
    close: async () => {
      await http?.close();
    },
  };
}

function devIssuerHttp(logger: Logger, key: DevKey, issuer: string): FastifyInstance {
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
