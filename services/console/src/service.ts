import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { consoleResource, expandEnv, type AirlockConfig } from '@airlock/config';
import { AirlockError, createHttpServer, httpDoorTls, type Bus, type Logger } from '@airlock/runtime';
import type { ConsoleEnv } from './config.js';
import { Secrets, sameString } from './crypto.js';
import { approvalRoutes } from './handlers/approvals.js';
import { assetRoutes } from './handlers/assets.js';
import { auditRoutes } from './handlers/audit.js';
import { leaseRoutes } from './handlers/leases.js';
import { liveRoutes } from './handlers/live.js';
import { signInRoutes } from './handlers/sign-in.js';
import { LiveEvents } from './live.js';
import { OidcSignIn, SamlSignIn } from './sign-in.js';
import { migrateConsole } from './store/migrations.js';
import { SamlRequestCache } from './store/saml-requests.js';
import { SessionStore } from './store/sessions.js';
import { Upstream } from './upstream.js';
import { ConsoleWeb } from './web.js';

export type ConsoleSettings = Pick<ConsoleEnv, 'httpHost' | 'httpPort' | 'publicUrl'> & {
  /** the approval API the console calls as the signed-in person */
  approvalUrl: string;
  /** the audit API the console calls as the signed-in person */
  auditUrl: string;
};

export interface ConsoleDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
  settings: ConsoleSettings;
  /** the environment `${VAR}` references of the console section are expanded from */
  env: Record<string, string | undefined>;
}

export interface ConsoleService {
  http: FastifyInstance | undefined;
  /** the port the console listens on; undefined when the config has no `console` section */
  port: number | undefined;
  publicUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * The web console for approvers, auditors and admins: server-rendered pages, live updates over Server-Sent Events,
 * sign-in by OIDC (code + PKCE) or SAML. It decides nothing itself: it calls the approval and audit APIs and the bus
 * as the signed-in person, and those check every action.
 */
export async function startConsole(deps: ConsoleDeps): Promise<ConsoleService> {
  const cfg = deps.config.console;
  const logger = deps.logger.child({ component: 'console' });
  if (!cfg) {
    logger.info('no console section in the config file: the console is not served');
    return { http: undefined, port: undefined, publicUrl: undefined, close: async () => undefined };
  }
  const { settings } = deps;
  // before anything starts: a console that would take sign-ins in clear text beyond loopback never opens
  const tls = httpDoorTls({ door: 'console', host: settings.httpHost, settings: deps.config.http, logger });
  await migrateConsole(deps.pool);
  const secrets = new Secrets(expandEnv(cfg.sessionSecret, deps.env));
  const sessions = new SessionStore(deps.pool);
  const skew = deps.config.identity.clockSkewSeconds ?? 30;
  const resources = { approval: consoleResource(deps.config, 'approval'), audit: consoleResource(deps.config, 'audit') };
  const oidc = cfg.oidc ? new OidcSignIn(cfg.oidc, cfg.oidc.clientSecret ? expandEnv(cfg.oidc.clientSecret, deps.env) : undefined, secrets, resources) : undefined;
  const saml = cfg.saml ? new SamlSignIn(cfg.saml, new SamlRequestCache(deps.pool, 600_000), skew) : undefined;
  const live = new LiveEvents(deps.bus, logger);
  const web = new ConsoleWeb(
    cfg,
    deps.bus,
    logger,
    secrets,
    sessions,
    new Upstream(settings.approvalUrl, 'approval'),
    new Upstream(settings.auditUrl, 'audit'),
    live,
    resources,
    settings.publicUrl?.replace(/\/$/, '') ?? '',
  );

  const http = createHttpServer({ logger, bodyLimit: 256 * 1024, ...(tls ? { tls } : {}) });
  http.addHook('onClose', async () => tls?.close());
  http.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  http.addHook('onSend', async (req, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('x-frame-options', 'DENY');
    void reply.header('referrer-policy', 'same-origin');
    void reply.header(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    if (!req.url.startsWith('/assets/')) void reply.header('cache-control', 'no-store');
    return payload;
  });

  // CSRF: every state-changing request must come from this console's own origin and carry the session's
  // synchronizer token. The SAML callback is the one exception: the IdP posts it cross-site by design, and it is
  // bound to a request this console made (InResponseTo) and signed by the IdP.
  http.addHook('preHandler', async (req) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.url === '/auth/saml/callback') return;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== new URL(web.publicUrl).origin) {
      throw new AirlockError('console.csrf_rejected', 'the request came from another origin; use the console itself');
    }
    const s = await web.signedIn(req);
    if (!s) throw new AirlockError('console.not_signed_in', 'sign in to the console first');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const given = typeof body['_csrf'] === 'string' ? body['_csrf'] : req.headers['x-csrf-token'];
    if (typeof given !== 'string' || !sameString(given, s.session.csrf)) {
      throw new AirlockError('console.csrf_rejected', 'the form is stale or was not sent by the console; reload the page and try again');
    }
  });

  assetRoutes(http);
  signInRoutes(http, web, { oidc, saml, sessionTtlSeconds: cfg.sessionTtlSeconds ?? 8 * 3600 });
  approvalRoutes(http, web);
  auditRoutes(http, web);
  leaseRoutes(http, web);
  const streams = liveRoutes(http, web);

  await http.listen({ host: settings.httpHost, port: settings.httpPort });
  const port = (http.server.address() as { port: number }).port;
  if (!web.publicUrl) web.publicUrl = `${tls ? 'https' : 'http'}://${settings.httpHost.includes(':') ? `[${settings.httpHost}]` : settings.httpHost}:${port}`;
  logger.info({ url: web.publicUrl, oidc: !!cfg.oidc, saml: !!cfg.saml }, 'console listening');

  return {
    http,
    port,
    publicUrl: web.publicUrl,
    close: async () => {
      for (const res of streams) res.end();
      await live.close();
      await http.close();
    },
  };
}
