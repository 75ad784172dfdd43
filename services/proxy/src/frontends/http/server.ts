import type { FastifyInstance } from 'fastify';
import { createHttpServer, type Logger, type TlsFiles } from '@airlock/runtime';
import type { Gateway } from '../../core/gateway.js';
import type { Limits } from '../../core/limits.js';
import type { McpSettings } from '../mcp/settings.js';
import type { SnowflakeSettings } from '../snowflake/settings.js';

/**
 * What every HTTP front door (Snowflake REST, SQL API, MCP, /v1) gets from the proxy: the gateway to sessions and the
 * other services, and its own settings, already resolved from the configuration by the service.
 */
export interface FrontDoor {
  gateway: Gateway;
  logger: Logger;
  /** `proxy.limits` with defaults applied */
  limits: Limits;
  mcp: McpSettings;
  snowflake: SnowflakeSettings;
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
