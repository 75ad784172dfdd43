import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { expandEnv, type AirlockConfig } from '@airlock/config';
import { identityV1 } from '@airlock/contracts';
import { AirlockError, newContext, type Bus, type Logger } from '@airlock/runtime';
import { EventPublisher } from './core/events.js';
import { LeaseKeeper } from './core/lease-keeper.js';
import { PgSession, type ProxyContext } from './core/session.js';
import { PgwireServer } from './frontends/pgwire/server.js';
import type { ProxyEnv } from './config.js';

export interface ProxyDeps {
  bus: Bus;
  config: AirlockConfig;
  logger: Logger;
  settings: Pick<ProxyEnv, 'pgwireHost' | 'pgwirePort' | 'httpHost' | 'httpPort' | 'proxyId'>;
  env: Record<string, string | undefined>;
}

export interface ProxyService {
  proxyId: string;
  pgwirePort: number;
  close(): Promise<void>;
}

/** The data path: front doors, sessions, upstream engines, masking. */
export async function startProxy(deps: ProxyDeps): Promise<ProxyService> {
  const { bus, config, logger } = deps;
  const proxyId = deps.settings.proxyId ?? `proxy-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const events = new EventPublisher(bus, logger);
  const keeper = new LeaseKeeper(bus, proxyId, config.proxy?.heartbeatSeconds ?? 5, logger);
  const hashKey = expandEnv(config.masking?.hashKey ?? '${AIRLOCK_MASKING_KEY}', deps.env);
  const ctx: ProxyContext = { bus, config, logger, events, keeper, proxyId, hashKey };

  const tlsConfig = config.proxy?.tls;
  const pgwire = new PgwireServer({
    host: deps.settings.pgwireHost,
    port: deps.settings.pgwirePort,
    logger,
    ...(tlsConfig ? { tls: { cert: readFileSync(tlsConfig.certPath), key: readFileSync(tlsConfig.keyPath) } } : {}),
    allowInsecureNonLoopback: config.proxy?.allowInsecureNonLoopback ?? false,
    handlers: {
      authenticate: async (token) => {
        if (token === '') throw new AirlockError('identity.missing_token', 'send your OIDC token as the password');
        const { principal } = await bus.call(identityV1.verifyToken, { token, frontend: 'pgwire' }, newContext());
        return principal;
      },
      openSession: (principal, database, client) => {
        const connection = config.connections[database];
        if (!connection) {
          throw new AirlockError('policy.unknown_connection', `connection "${database}" is not configured in Airlock; use the database name of a configured connection`);
        }
        if (connection.type !== 'postgres') {
          throw new AirlockError('policy.unknown_connection', `connection "${database}" is a ${connection.type} connection; connect to it through its own front door`);
        }
        return new PgSession(ctx, principal, database, 'pgwire', client);
      },
    },
  });
  const pgwirePort = await pgwire.listen();
  logger.info({ host: deps.settings.pgwireHost, port: pgwirePort }, 'PostgreSQL front door listening');

  return {
    proxyId,
    pgwirePort,
    close: async () => {
      await pgwire.close();
      keeper.stop();
      await events.flush();
    },
  };
}
