import type pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { expandEnv, type AirlockConfig } from '@airlock/config';
import type { credentialV1 } from '@airlock/contracts';
import { EventPublisher, Registry, createHttpServer, type Bus, type CallContext, type Logger } from '@airlock/runtime';
import { decisionCheck } from './authorize.js';
import type { CredentialEnv } from './config.js';
import type { CredentialEngine } from './engines/engine.js';
import { PostgresEngine, defaultLeftovers } from './engines/postgres.js';
import { SnowflakeEngine, oauthSigner, type OAuthSigner } from './engines/snowflake.js';
import { serveCatalog } from './handlers/catalog.js';
import { serveHeartbeat } from './handlers/heartbeat.js';
import { serveStandby } from './handlers/standby.js';
import { serveIssue } from './handlers/issue.js';
import { serveListLeases } from './handlers/list-leases.js';
import { serveRevoke } from './handlers/revoke.js';
import { serveUpstreamSession } from './handlers/upstream-session.js';
import { credentialMetrics } from './metrics.js';
import type { CredentialParts } from './parts.js';
import { revoker } from './revoker.js';
import { CredentialPool } from './pool.js';
import { LeaseStore, migrateLeases } from './store/leases.js';
import { PoolStore } from './store/pool.js';
import { loadOrCreateOAuthKey } from './store/oauth-keys.js';
import { reconcile, sweep } from './sweeper.js';

export { rolePrefix } from './handlers/issue.js';

export interface CredentialDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
  settings: Pick<CredentialEnv, 'sweepSeconds' | 'heartbeatGraceSeconds' | 'irrevocableAfter' | 'httpHost' | 'httpPort'> &
    Partial<Pick<CredentialEnv, 'pendingGraceSeconds'>>;
  /** the environment the config file's `${VAR}` references expand from: only this service sees admin secrets */
  env: Record<string, string | undefined>;
  /** the service's Prometheus registry */
  metrics?: Registry;
}

export interface CredentialService {
  engines: ReadonlyMap<string, CredentialEngine>;
  /** the HTTP server that serves the External-OAuth JWKS, when a connection uses that strategy */
  http: FastifyInstance | undefined;
  revoke(leaseId: string, reason: string, ctx?: CallContext): Promise<credentialV1.LeaseState>;
  sweep(): Promise<void>;
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

/** Mints, records and revokes leases; the only holder of each connection's admin principal. */
export async function startCredential(deps: CredentialDeps): Promise<CredentialService> {
  const { bus, config, logger } = deps;
  await migrateLeases(deps.pool);
  const store = new LeaseStore(deps.pool);
  const events = new EventPublisher(bus, logger);
  const needsOAuth = Object.values(config.connections).some((c) => c.type === 'snowflake' && c.strategy === 'external-oauth');
  let signer: OAuthSigner | undefined;
  let http: FastifyInstance | undefined;
  if (needsOAuth) {
    const key = await loadOrCreateOAuthKey(deps.pool, deps.env);
    signer = oauthSigner(key.privateJwk, key.publicJwk);
    http = createHttpServer({ logger });
    for (const [name, conn] of Object.entries(config.connections)) {
      if (conn.type !== 'snowflake' || conn.strategy !== 'external-oauth') continue;
      const s = signer;
      http.get(conn.externalOAuth?.jwksPath ?? `/snowflake/${name}/jwks.json`, async () => s.jwks());
    }
    await http.listen({ host: deps.settings.httpHost, port: deps.settings.httpPort });
  }
  const engines = new Map<string, CredentialEngine>();
  for (const [name, conn] of Object.entries(config.connections)) {
    try {
      if (conn.type === 'postgres') {
        engines.set(
          name,
          new PostgresEngine(expandEnv(conn.adminUrl, deps.env), {
            leftovers: conn.leases?.leftovers ?? defaultLeftovers.leftovers,
            leftoverRole: conn.leases?.leftoverRole ?? defaultLeftovers.leftoverRole,
          }, conn.tls),
        );
      } else engines.set(name, new SnowflakeEngine(conn, deps.env, signer));
    } catch (err) {
      logger.error({ connection: name, err: err instanceof Error ? err.message : String(err) }, 'connection admin settings are unusable');
    }
  }

  const metrics = credentialMetrics(deps.metrics ?? new Registry(), deps.pool, config);
  const revoke = revoker({ store, engines, events, logger, tracing: bus.tracing, metrics, irrevocableAfter: deps.settings.irrevocableAfter });
  const pool = new CredentialPool({ store: new PoolStore(deps.pool), leases: store, engines, config, logger, heartbeatGraceSeconds: deps.settings.heartbeatGraceSeconds });
  const parts: CredentialParts = { bus, config, logger, store, engines, events, mintSeconds: metrics.mintSeconds, poolDraws: metrics.poolDraws, pool, revoke };

  serveIssue(parts, decisionCheck(bus));
  serveRevoke(parts);
  serveHeartbeat(parts);
  serveCatalog(parts);
  serveListLeases(parts);
  serveUpstreamSession(parts);
  serveStandby(parts);

  const sweepSettings = { heartbeatGraceSeconds: deps.settings.heartbeatGraceSeconds, pendingGraceSeconds: deps.settings.pendingGraceSeconds ?? 60 };
  await reconcile(parts);
  // fills the pools, and revokes what a copy that died left in them
  await pool.maintain();
  let running = Promise.resolve();
  let ticks = 0;
  const timer = setInterval(() => {
    running = running
      .then(async () => {
        await sweep(parts, sweepSettings);
        await pool.maintain();
        ticks += 1;
        if (ticks % 12 === 0) await reconcile(parts);
      })
      .catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'sweep failed'));
  }, deps.settings.sweepSeconds * 1000);
  timer.unref();

  return {
    engines,
    http,
    revoke,
    sweep: () => sweep(parts, sweepSettings),
    reconcile: () => reconcile(parts),
    close: async () => {
      clearInterval(timer);
      await running;
      // nothing pooled outlives the process: what it made ahead is revoked before its engines close
      await pool.close();
      await http?.close();
      await events.flush();
      for (const engine of engines.values()) await engine.close().catch(() => undefined);
    },
  };
}
