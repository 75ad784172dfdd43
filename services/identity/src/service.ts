import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { AirlockConfig } from '@airlock/config';
import { ConfigError, Counter, Registry, demoMode, type Bus, type Logger } from '@airlock/runtime';
import { TokenVerifier } from './verifier.js';
import { loadOrCreateDevKey, migrateIdentity, type DevKey } from './store/dev-keys.js';
import { defaultDevIssuer, devTokenMaxTtlSeconds } from './dev-issuer.js';
import { SamlVerifier } from './saml.js';
import { devIssuerHttp } from './handlers/dev-issuer.js';
import { serveVerify } from './handlers/verify.js';

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

  serveVerify(bus, { verifier, verifications, logger });

  return {
    verifier,
    http,
    close: async () => {
      await http?.close();
    },
  };
}
