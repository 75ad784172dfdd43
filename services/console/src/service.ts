import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { expandEnv, type AirlockConfig } from '@airlock/config';
import { credentialV1, type approvalV1, type Principal } from '@airlock/contracts';
import { AirlockError, createHttpServer, httpDoorTls, newContext, type Bus, type Logger } from '@airlock/runtime';
import { consoleCss, consoleJs, faviconSvg } from './assets.js';
import type { ConsoleEnv } from './config.js';
import { Secrets, parseCookies, randomToken, sameString, serializeCookie } from './crypto.js';
import type { Html } from './html.js';
import { LiveEvents, type LiveEvent } from './live.js';
import { OidcSignIn, SamlSignIn, type SignedIn } from './sign-in.js';
import { liveLeases } from './store/leases.js';
import { migrateConsole } from './store/migrations.js';
import { SamlRequestCache, SessionStore, type ConsoleSession } from './store/sessions.js';
import { TokenIssuer, consoleTokenAudience } from './token-issuer.js';
import { Upstream } from './upstream.js';
import { approvalList, approvalsPage, type Acting } from './views/approvals.js';
import { auditPage, replayPage, sessionFilters, sessionsPage, type AuditEvent, type SessionDetail, type SessionQuery, type SessionSummary, type VerifyResult } from './views/audit.js';
import { homePage, loginPage, page, type Flash, type Roles, type Viewer } from './views/layout.js';
import { leaseList, leasesPage } from './views/leases.js';
import { html } from './html.js';

export type ConsoleSettings = Pick<ConsoleEnv, 'httpHost' | 'httpPort' | 'publicUrl' | 'approvalUrl' | 'auditUrl' | 'tokenTtlSeconds'>;

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

const sessionCookie = 'airlock_console';
const flowCookie = 'airlock_oidc_flow';
const flashCookie = 'airlock_flash';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Signed {
  id: string;
  session: ConsoleSession;
  viewer: Viewer;
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
  const oidcSignIn = cfg.oidc ? new OidcSignIn(cfg.oidc, cfg.oidc.clientSecret ? expandEnv(cfg.oidc.clientSecret, deps.env) : undefined, secrets) : undefined;
  const samlSignIn = cfg.saml ? new SamlSignIn(cfg.saml, new SamlRequestCache(deps.pool, 600_000), skew) : undefined;
  const approvalsApi = new Upstream(settings.approvalUrl, 'approval');
  const auditApi = new Upstream(settings.auditUrl, 'audit');
  const sessionTtl = cfg.sessionTtlSeconds ?? 8 * 3600;
  let publicUrl = settings.publicUrl?.replace(/\/$/, '') ?? '';
  const secure = () => publicUrl.startsWith('https:');
  const tokenIssuerUrl = () => cfg.saml?.tokenIssuer ?? `${publicUrl}/token-issuer`;
  let issuer: TokenIssuer | undefined;

  const roleOf = (groups: readonly string[]): Roles => ({
    approver: groups.some((g) => cfg.groups.approvers.includes(g)),
    auditor: groups.some((g) => cfg.groups.auditors.includes(g)),
    admin: groups.some((g) => cfg.groups.admins.includes(g)),
  });

  /** The bearer token the services accept for this person: the IdP's own ID token, or one the console signs for SAML. */
  const bearer = async (s: ConsoleSession): Promise<string> => {
    if (s.method === 'oidc') {
      const token = s.bearerSealed ? secrets.unseal(s.bearerSealed) : undefined;
      if (!token) throw new AirlockError('console.not_signed_in', 'your session has no usable token; sign in again');
      return token;
    }
    if (!issuer) throw new AirlockError('console.not_signed_in', 'SAML sign-in is not configured; sign in again');
    return issuer.mint(s.principal);
  };
  const acting = (s: ConsoleSession): Acting => ({ subject: s.principal.subject, issuer: s.method === 'saml' ? tokenIssuerUrl() : s.principal.issuer });

  const live = new LiveEvents(deps.bus, logger);
  await live.start();

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

  const cookies = (req: FastifyRequest) => parseCookies(req.headers.cookie);
  const signedIn = async (req: FastifyRequest): Promise<Signed | undefined> => {
    const raw = cookies(req).get(sessionCookie);
    const id = raw ? secrets.unsign(raw) : undefined;
    if (!id) return undefined;
    const session = await sessions.get(id);
    if (!session) return undefined;
    return { id, session, viewer: { name: session.principal.email ?? session.principal.subject, roles: roleOf(session.principal.groups), csrf: session.csrf } };
  };
  const sendPage = (reply: FastifyReply, body: Html, status = 200) => reply.status(status).type('text/html; charset=utf-8').send(body.text);
  const takeFlash = (req: FastifyRequest, reply: FastifyReply): Flash | undefined => {
    const sealed = cookies(req).get(flashCookie);
    if (!sealed) return undefined;
    void reply.header('set-cookie', serializeCookie(flashCookie, '', { maxAgeSeconds: 0, secure: secure() }));
    const opened = secrets.unseal(sealed);
    return opened ? (JSON.parse(opened) as Flash) : undefined;
  };
  const redirectWithFlash = (reply: FastifyReply, to: string, flash: Flash) =>
    reply
      .header('set-cookie', serializeCookie(flashCookie, secrets.seal(JSON.stringify(flash)), { maxAgeSeconds: 60, secure: secure() }))
      .redirect(to, 303);

  /** A page for one role: to the sign-in page when signed out, a plain refusal without the role. */
  const withRole = (role: keyof Roles, handler: (req: FastifyRequest, reply: FastifyReply, s: Signed) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const s = await signedIn(req);
      if (!s) {
        if (req.method === 'GET' && !req.headers['x-csrf-token']) return reply.redirect('/login', 303);
        throw new AirlockError('console.not_signed_in', 'sign in to the console first');
      }
      if (!s.viewer.roles[role]) {
        if (req.method === 'GET' && !req.headers['x-csrf-token']) {
          return sendPage(reply, page({ title: 'Not allowed', viewer: s.viewer, body: html`<section class="card narrow"><h1>Not allowed</h1><p>This page needs the ${role} role, which your groups do not give.</p></section>` }), 403);
        }
        throw new AirlockError('console.forbidden', `this needs the ${role} role, which your groups do not give`);
      }
      return handler(req, reply, s);
    };

  // CSRF: every state-changing request must come from this console's own origin and carry the session's
  // synchronizer token. The SAML callback is the one exception: the IdP posts it cross-site by design, and it is
  // bound to a request this console made (InResponseTo) and signed by the IdP.
  http.addHook('preHandler', async (req) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.url === '/auth/saml/callback') return;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== new URL(publicUrl).origin) {
      throw new AirlockError('console.csrf_rejected', 'the request came from another origin; use the console itself');
    }
    const s = await signedIn(req);
    if (!s) throw new AirlockError('console.not_signed_in', 'sign in to the console first');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const given = typeof body['_csrf'] === 'string' ? body['_csrf'] : req.headers['x-csrf-token'];
    if (typeof given !== 'string' || !sameString(given, s.session.csrf)) {
      throw new AirlockError('console.csrf_rejected', 'the form is stale or was not sent by the console; reload the page and try again');
    }
  });

  http.get('/healthz', async () => ({ ok: true }));
  http.get('/assets/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(consoleCss));
  http.get('/assets/console.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(consoleJs));
  http.get('/assets/favicon.svg', async (_req, reply) => reply.type('image/svg+xml').send(faviconSvg));

  // ---- sign-in ----
  const startSession = async (reply: FastifyReply, method: 'oidc' | 'saml', done: SignedIn) => {
    const expiresAt = new Date(Math.min(Date.now() + sessionTtl * 1000, done.expiresAt?.getTime() ?? Infinity));
    const id = await sessions.create({
      method,
      principal: done.principal,
      bearerSealed: done.idToken ? secrets.seal(done.idToken) : null,
      csrf: randomToken(),
      expiresAt,
    });
    logger.info({ method, subject: done.principal.subject, issuer: done.principal.issuer }, 'signed in to the console');
    return reply
      .header('set-cookie', [
        serializeCookie(sessionCookie, secrets.sign(id), { maxAgeSeconds: (expiresAt.getTime() - Date.now()) / 1000, secure: secure() }),
        serializeCookie(flowCookie, '', { maxAgeSeconds: 0, path: '/auth/oidc', secure: secure() }),
      ])
      .redirect('/', 303);
  };
  const refuseSignIn = (reply: FastifyReply, err: unknown) => {
    const message = err instanceof AirlockError ? err.message : 'sign-in failed; try again';
    logger.warn({ code: err instanceof AirlockError ? err.code : 'runtime.internal' }, 'console sign-in refused');
    return sendPage(reply, loginPage({ oidc: !!oidcSignIn, saml: !!samlSignIn, error: message }), 401);
  };

  http.get('/login', async (_req, reply) => sendPage(reply, loginPage({ oidc: !!oidcSignIn, saml: !!samlSignIn })));
  http.get('/auth/oidc/start', async (_req, reply) => {
    if (!oidcSignIn) throw new AirlockError('runtime.invalid_request', 'OIDC sign-in is not configured');
    const { url, flow } = await oidcSignIn.start();
    return reply.header('set-cookie', serializeCookie(flowCookie, flow, { maxAgeSeconds: 600, path: '/auth/oidc', secure: secure() })).redirect(url, 303);
  });
  http.get('/auth/oidc/callback', async (req, reply) => {
    if (!oidcSignIn) throw new AirlockError('runtime.invalid_request', 'OIDC sign-in is not configured');
    try {
      return await startSession(reply, 'oidc', await oidcSignIn.finish(new URL(req.url, 'http://console.invalid'), cookies(req).get(flowCookie)));
    } catch (err) {
      return refuseSignIn(reply, err);
    }
  });
  http.get('/auth/saml/start', async (_req, reply) => {
    if (!samlSignIn) throw new AirlockError('runtime.invalid_request', 'SAML sign-in is not configured');
    return reply.redirect(await samlSignIn.start(), 303);
  });
  http.post<{ Body: Record<string, string> }>('/auth/saml/callback', async (req, reply) => {
    if (!samlSignIn) throw new AirlockError('runtime.invalid_request', 'SAML sign-in is not configured');
    try {
      return await startSession(reply, 'saml', await samlSignIn.finish(req.body?.['SAMLResponse']));
    } catch (err) {
      return refuseSignIn(reply, err);
    }
  });
  if (cfg.saml) {
    http.get('/token-issuer/.well-known/openid-configuration', async () => ({
      issuer: tokenIssuerUrl(),
      jwks_uri: `${publicUrl}/token-issuer/jwks`,
      id_token_signing_alg_values_supported: ['ES256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
    }));
    http.get('/token-issuer/jwks', async () => issuer!.jwks);
  }
  http.post('/logout', async (req, reply) => {
    const s = await signedIn(req);
    if (s) await sessions.delete(s.id);
    return reply.header('set-cookie', serializeCookie(sessionCookie, '', { maxAgeSeconds: 0, secure: secure() })).redirect('/login', 303);
  });

  http.get('/', async (req, reply) => {
    const s = await signedIn(req);
    if (!s) return reply.redirect('/login', 303);
    const r = s.viewer.roles;
    if (r.approver) return reply.redirect('/approvals', 303);
    if (r.auditor) return reply.redirect('/sessions', 303);
    if (r.admin) return reply.redirect('/leases', 303);
    return sendPage(reply, homePage(s.viewer));
  });

  // ---- approvals ----
  const pending = async (s: Signed) =>
    (await approvalsApi.get<approvalV1.ApprovalList>('/v1/approvals?state=pending', await bearer(s.session))).approvals;
  http.get(
    '/approvals',
    withRole('approver', async (req, reply, s) => sendPage(reply, approvalsPage(s.viewer, await pending(s), acting(s.session), takeFlash(req, reply)))),
  );
  http.get(
    '/approvals/list',
    withRole('approver', async (_req, reply, s) => sendPage(reply, approvalList(await pending(s), acting(s.session), s.viewer.csrf))),
  );
  const decide = (decision: 'approve' | 'deny') =>
    withRole('approver', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      const body = (req.body ?? {}) as Record<string, string | undefined>;
      const reason = body['reason']?.trim();
      const payload =
        decision === 'approve'
          ? { ...(body['for'] ? { for: body['for'] } : {}), ...(reason ? { reason } : {}) }
          : { ...(reason ? { reason } : {}) };
      try {
        const reply_ = await approvalsApi.post<approvalV1.DecisionReply>(`/v1/approvals/${encodeURIComponent(id)}/${decision}`, await bearer(s.session), payload);
        const a = reply_.approval;
        const text =
          decision === 'deny'
            ? `Denied: the agent is told "${reason ?? ''}".`
            : a.state === 'granted'
              ? `Approved${a.windowSeconds ? ` for ${Math.round(a.windowSeconds / 60)} minutes` : ' once'}: the statement runs now.`
              : `Your approval is recorded (${a.approvals} of ${a.quorum}).`;
        logger.info({ approvalId: id, decision, by: s.session.principal.subject }, 'decision sent from the console');
        return redirectWithFlash(reply, '/approvals', { kind: 'ok', text });
      } catch (err) {
        if (!(err instanceof AirlockError)) throw err;
        return redirectWithFlash(reply, '/approvals', { kind: 'error', text: err.message });
      }
    });
  http.post('/approvals/:id/approve', decide('approve'));
  http.post('/approvals/:id/deny', decide('deny'));

  // ---- sessions and audit ----
  http.get(
    '/sessions',
    withRole('auditor', async (req, reply, s) => {
      const raw = req.query as Record<string, unknown>;
      const q: SessionQuery = {};
      const params = new URLSearchParams();
      for (const k of sessionFilters) {
        const v = typeof raw[k] === 'string' ? (raw[k] as string).trim() : '';
        if (!v) continue;
        q[k] = v;
        // the form's datetime-local fields carry no zone: the console shows and reads UTC
        params.set(k, (k === 'from' || k === 'to') && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v);
      }
      params.set('limit', '200');
      try {
        const { sessions: list } = await auditApi.get<{ sessions: SessionSummary[] }>(`/v1/sessions?${params}`, await bearer(s.session));
        return sendPage(reply, sessionsPage(s.viewer, q, list));
      } catch (err) {
        if (!(err instanceof AirlockError) || err.code !== 'runtime.invalid_request') throw err;
        return sendPage(reply, sessionsPage(s.viewer, q, [], err.message));
      }
    }),
  );
  http.get(
    '/sessions/:id',
    withRole('auditor', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      const detail = await auditApi.get<SessionDetail>(`/v1/sessions/${encodeURIComponent(id)}`, await bearer(s.session));
      return sendPage(reply, replayPage(s.viewer, detail));
    }),
  );
  http.get(
    '/audit',
    withRole('auditor', async (_req, reply, s) => {
      const token = await bearer(s.session);
      const [verify, { events }] = await Promise.all([
        auditApi.get<VerifyResult>('/v1/verify', token),
        auditApi.get<{ events: AuditEvent[] }>('/v1/events?tail=100', token),
      ]);
      return sendPage(reply, auditPage(s.viewer, verify, [...events].reverse()));
    }),
  );

  // ---- leases ----
  http.get('/leases', withRole('admin', async (req, reply, s) => sendPage(reply, leasesPage(s.viewer, await liveLeases(deps.pool), takeFlash(req, reply)))));
  http.get('/leases/list', withRole('admin', async (_req, reply, s) => sendPage(reply, leaseList(await liveLeases(deps.pool), s.viewer.csrf))));
  http.post(
    '/leases/:id/revoke',
    withRole('admin', async (req, reply, s) => {
      const id = (req.params as { id: string }).id;
      if (!uuid.test(id)) throw new AirlockError('runtime.invalid_request', 'a lease id is a UUID');
      const who: Principal = s.session.principal;
      // the reason travels into the credential.v1.revoked event: the audit log names who revoked it
      const reason = `revoked from the console by ${who.subject} (${who.issuer})`;
      try {
        const res = await deps.bus.call(credentialV1.revokeLease, { leaseId: id, reason }, newContext());
        logger.info({ leaseId: id, state: res.state, by: who.subject }, 'lease revoked from the console');
        return redirectWithFlash(reply, '/leases', { kind: res.state === 'revoked' ? 'ok' : 'error', text: `Lease ${id.slice(0, 8)}: ${res.state}.` });
      } catch (err) {
        if (!(err instanceof AirlockError)) throw err;
        return redirectWithFlash(reply, '/leases', { kind: 'error', text: err.message });
      }
    }),
  );

  // ---- live updates ----
  const topics = {
    approvals: { role: 'approver', match: (e: LiveEvent) => e.type.startsWith('approval.') },
    leases: { role: 'admin', match: (e: LiveEvent) => e.type.startsWith('credential.') },
    audit: { role: 'auditor', match: () => true },
  } as const;
  http.get('/live', async (req, reply) => {
    const name = (req.query as Record<string, unknown>)['topic'];
    const topic = typeof name === 'string' && Object.hasOwn(topics, name) ? topics[name as keyof typeof topics] : undefined;
    if (!topic) throw new AirlockError('runtime.invalid_request', 'topic must be approvals, leases or audit');
    const s = await signedIn(req);
    if (!s) throw new AirlockError('console.not_signed_in', 'sign in to the console first');
    if (!s.viewer.roles[topic.role]) throw new AirlockError('console.forbidden', `this stream needs the ${topic.role} role`);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('event: ready\ndata: {}\n\n');
    const unsubscribe = live.subscribe((e) => {
      if (!topic.match(e)) return;
      res.write(name === 'audit' ? `event: event\ndata: ${JSON.stringify(e)}\n\n` : `event: change\ndata: ${JSON.stringify({ type: e.type })}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    req.raw.on('close', end);
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  const streams = new Set<import('node:http').ServerResponse>();

  await http.listen({ host: settings.httpHost, port: settings.httpPort });
  const port = (http.server.address() as { port: number }).port;
  if (!publicUrl) publicUrl = `${tls ? 'https' : 'http'}://${settings.httpHost.includes(':') ? `[${settings.httpHost}]` : settings.httpHost}:${port}`;
  if (cfg.saml) issuer = await TokenIssuer.load(deps.env, tokenIssuerUrl(), settings.tokenTtlSeconds);
  logger.info({ url: publicUrl, oidc: !!cfg.oidc, saml: !!cfg.saml, tokenAudience: cfg.saml ? consoleTokenAudience : undefined }, 'console listening');

  return {
    http,
    port,
    publicUrl,
    close: async () => {
      for (const res of streams) res.end();
      await live.close();
      await http.close();
    },
  };
}
