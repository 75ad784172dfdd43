import type { FastifyInstance } from 'fastify';
import type { Principal } from '@airlock/contracts';
import { createHttpServer, type Logger, type TlsFiles } from '@airlock/runtime';
import type { ProxyContext, Session } from '../../core/session.js';
import type { Limits } from '../../core/limits.js';
import type { proxyV1 } from '@airlock/contracts';

/** What every HTTP front door (Snowflake REST, SQL API, MCP, /v1) gets from the proxy. */
export interface FrontDoor {
  ctx: ProxyContext;
  /** verifies a bearer token for the front door's own audience (MCP's for `mcp`, the database doors' for the others) */
  authenticate(token: string, frontend: proxyV1.Frontend, sessionId?: string): Promise<Principal>;
  /** as `authenticate`, with the token's expiry: a session opened with it must end by then */
  /** `recheck`: verifying again a token that already opened this session (a renewal) */
  verify(token: string, frontend: proxyV1.Frontend, sessionId?: string, recheck?: boolean): Promise<{ principal: Principal; expiresAt: Date }>;
  /** opens a session on a configured connection; throws for an unknown one */
  openSession(principal: Principal, connection: string, frontend: proxyV1.Frontend, client: string | undefined, sessionId?: string): Session;
  /** `proxy.limits` with defaults applied */
  limits: Limits;
  /** the proxy's own public base URL, e.g. http://127.0.0.1:8080 */
  baseUrl(): string;
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');

/** A front door mounted on the proxy's HTTP server; each lives in its own folder under frontends/. */
export type HttpFrontDoorPlugin = (app: FastifyInstance, door: FrontDoor) => Promise<{ close(): Promise<void> }>;

export async function startHttp(options: {
  host: string;
  port: number;
  logger: Logger;
  door: FrontDoor;
  plugins: readonly HttpFrontDoorPlugin[];
  /** HTTPS with this certificate (proxy.tls), reloaded when its files change */
  tls?: TlsFiles;
  allowInsecureNonLoopback?: boolean;
}): Promise<{ app: FastifyInstance; port: number; close(): Promise<void> }> {
  if (!isLoopback(options.host) && !options.tls && !options.allowInsecureNonLoopback) {
    throw new Error(
      `refusing to serve HTTP on ${options.host} without TLS: bearer tokens and Snowflake logins would cross the network in clear text. Configure proxy.tls (HTTPS), or set proxy.allowInsecureNonLoopback: true`,
    );
  }
  const app = createHttpServer({ logger: options.logger, bodyLimit: options.door.limits.maxBodyBytes, ...(options.tls ? { tls: options.tls } : {}) });
  app.get('/healthz', async () => ({ ok: true }));
  const mounted: Array<{ close(): Promise<void> }> = [];
  for (const plugin of options.plugins) mounted.push(await plugin(app, options.door));
  await app.listen({ host: options.host, port: options.port });
  const port = (app.server.address() as { port: number }).port;
  return {
    app,
    port,
    close: async () => {
      for (const m of mounted) await m.close();
      await app.close();
    },
  };
}
