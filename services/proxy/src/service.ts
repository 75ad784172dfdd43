import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { expandEnv, type AirlockConfig } from '@airlock/config';
import { policyV1, type Principal, type proxyV1 } from '@airlock/contracts';
import { AirlockError, Counter, Histogram, Registry, TlsFiles, TrustedKeys, latencyBuckets, tokenKinds, type Bus, type Logger } from '@airlock/runtime';
import { EventPublisher } from '@airlock/runtime';
import { LeaseKeeper } from './core/lease-keeper.js';
import { StandbyConnections } from './core/standby.js';
import { ReuseEpoch } from './core/decision-reuse.js';
import { LimitedSession, PrincipalLimits, resolveLimits } from './core/limits.js';
import type { ProxyContext, Session } from './core/session.js';
import { busGateway } from './core/gateway.js';
import { mcpSettings, snowflakeSettings } from './door-settings.js';
import { postgresEngine } from './engines/postgres/upstream.js';
import { snowflakeEngineWith } from './engines/snowflake/upstream.js';
import { PgwireServer } from './frontends/pgwire/server.js';
import { isLoopback, startHttp, type FrontDoor, type HttpFrontDoorPlugin } from './frontends/http/server.js';
import type { ProxyEnv } from './config.js';

export interface ProxyDeps {
  bus: Bus;
  config: AirlockConfig;
  logger: Logger;
  settings: Pick<ProxyEnv, 'pgwireHost' | 'pgwirePort' | 'httpHost' | 'httpPort' | 'proxyId'>;
  env: Record<string, string | undefined>;
  /** the service's Prometheus registry */
  metrics?: Registry;
  /** HTTP front doors to mount (Snowflake REST, MCP, …) */
  plugins?: readonly HttpFrontDoorPlugin[];
}

export interface ProxyService {
  proxyId: string;
  pgwirePort: number;
  httpPort: number;
  close(): Promise<void>;
}

/** The data path: front doors, sessions, upstream engines, masking. */
export async function startProxy(deps: ProxyDeps): Promise<ProxyService> {
  const { bus, config, logger } = deps;
  // checked before anything starts: a door that would take tokens in clear text beyond loopback never opens
  if (!isLoopback(deps.settings.httpHost) && !config.proxy?.tls && !config.proxy?.allowInsecureNonLoopback) {
    throw new Error(
      `refusing to serve HTTP on ${deps.settings.httpHost} without TLS: bearer tokens and Snowflake logins would cross the network in clear text. Configure proxy.tls (HTTPS), or set proxy.allowInsecureNonLoopback: true`,
    );
  }
  const proxyId = deps.settings.proxyId ?? `proxy-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const events = new EventPublisher(bus, logger);
  const keeper = new LeaseKeeper(bus, proxyId, config.proxy?.heartbeatSeconds ?? 5, logger);
  const hashKey = expandEnv(config.masking?.hashKey ?? '${AIRLOCK_MASKING_KEY}', deps.env);
  const registers = [deps.metrics ?? new Registry()];
  const metrics = {
    statementSeconds: new Histogram({
      name: 'airlock_proxy_statement_duration_seconds',
      help: 'Statements from arrival to last row (and the revocation of a per-statement lease), by connection and outcome (completed, failed)',
      labelNames: ['connection', 'outcome'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    maskedCells: new Counter({
      name: 'airlock_proxy_masked_cells_total',
      help: 'Result cells masked on the way back, by connection',
      labelNames: ['connection'] as const,
      registers,
    }),
  };
  const decisions = new TrustedKeys(bus, policyV1.keys, tokenKinds.decision);
  const reuseEpoch = new ReuseEpoch();
  // listening before the doors open: no decision is reused that an announced epoch ended
  const epochs = await bus.listen(policyV1.epochChanged, () => reuseEpoch.advance());
  const engines = { postgres: postgresEngine, snowflake: snowflakeEngineWith(bus) };
  const standby = new StandbyConnections({ bus, keeper, logger, config, proxyId, engines });
  standby.topUp();
  const ctx: ProxyContext = { bus, config, logger, events, keeper, proxyId, hashKey, metrics, decisions, reuseEpoch, engines, standby };

  const limits = resolveLimits(config);
  const principals = new PrincipalLimits(limits);
  const openSession = (principal: Principal, database: string, frontend: proxyV1.Frontend, client: string | undefined, sessionId?: string): Session => {
    const connection = config.connections[database];
    if (!connection) {
      throw new AirlockError('policy.unknown_connection', `connection "${database}" is not configured in Airlock; use the name of a configured connection`);
    }
    const release = principals.takeSession(principal);
    try {
      return new LimitedSession(principals, release, ctx, principal, database, frontend, client, sessionId);
    } catch (err) {
      release();
      throw err;
    }
  };
  const gateway = busGateway({ bus, openSession });

  const tlsFiles = config.proxy?.tls ? new TlsFiles(config.proxy.tls, logger) : undefined;
  const allowInsecureNonLoopback = config.proxy?.allowInsecureNonLoopback ?? false;
  const pgwire = new PgwireServer({
    limits,
    host: deps.settings.pgwireHost,
    port: deps.settings.pgwirePort,
    logger,
    ...(tlsFiles ? { tls: () => tlsFiles.current } : {}),
    allowInsecureNonLoopback,
    handlers: {
      authenticate: (token, info) => gateway.verify(token, 'pgwire', info.sessionId),
      openSession: (principal, database, client, sessionId) => {
        if (config.connections[database] && config.connections[database].type !== 'postgres') {
          throw new AirlockError('policy.unknown_connection', `connection "${database}" is a ${config.connections[database].type} connection; connect to it through its own front door`);
        }
        return gateway.openSession(principal, database, 'pgwire', client, sessionId);
      },
    },
  });
  const pgwirePort = await pgwire.listen();
  logger.info({ host: deps.settings.pgwireHost, port: pgwirePort }, 'PostgreSQL front door listening');
  let httpPort = 0;
  const door: FrontDoor = {
    gateway,
    logger,
    limits,
    mcp: mcpSettings(config),
    snowflake: snowflakeSettings(config),
    baseUrl: () => `${tlsFiles ? 'https' : 'http'}://${deps.settings.httpHost.includes(':') ? `[${deps.settings.httpHost}]` : deps.settings.httpHost}:${httpPort}`,
  };
  const http = await startHttp({
    host: deps.settings.httpHost,
    port: deps.settings.httpPort,
    logger,
    door,
    plugins: deps.plugins ?? [],
    ...(tlsFiles ? { tls: tlsFiles } : {}),
    allowInsecureNonLoopback,
  });
  httpPort = http.port;
  logger.info({ host: deps.settings.httpHost, port: httpPort }, 'HTTP front doors listening');

  return {
    proxyId,
    pgwirePort,
    httpPort,
    close: async () => {
      await http.close();
      await pgwire.close();
      tlsFiles?.close();
      // nothing opened ahead outlives the proxy: closed and revoked while the bus still carries the revocations
      await standby.close();
      keeper.stop();
      epochs.stop();
      await events.flush();
    },
  };
}
