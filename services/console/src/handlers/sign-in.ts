import type { FastifyInstance, FastifyReply } from 'fastify';
import { AirlockError } from '@airlock/runtime';
import { randomToken, serializeCookie } from '../crypto.js';
import type { OidcSignIn, SamlSignIn, SignedIn } from '../sign-in.js';
import { homePage, loginPage } from '../views/layout.js';
import { flowCookie, sessionCookie, type ConsoleWeb } from '../web.js';

/** Sign-in by OIDC (code + PKCE) or SAML, sign-out, and the landing page. */
export function signInRoutes(http: FastifyInstance, web: ConsoleWeb, signIn: { oidc: OidcSignIn | undefined; saml: SamlSignIn | undefined; sessionTtlSeconds: number }): void {
  const { oidc: oidcSignIn, saml: samlSignIn } = signIn;
  const startSession = async (reply: FastifyReply, method: 'oidc' | 'saml', done: SignedIn) => {
    const expiresAt = new Date(Math.min(Date.now() + signIn.sessionTtlSeconds * 1000, done.expiresAt?.getTime() ?? Infinity));
    const id = await web.sessions.create({
      method,
      principal: done.principal,
      bearerSealed: web.secrets.seal(JSON.stringify(done.bearers)),
      csrf: randomToken(),
      expiresAt,
    });
    web.logger.info({ method, subject: done.principal.subject, issuer: done.principal.issuer }, 'signed in to the console');
    return reply
      .header('set-cookie', [
        serializeCookie(sessionCookie, web.secrets.sign(id), { maxAgeSeconds: (expiresAt.getTime() - Date.now()) / 1000, secure: web.secure() }),
        serializeCookie(flowCookie, '', { maxAgeSeconds: 0, path: '/auth/oidc', secure: web.secure() }),
      ])
      .redirect('/', 303);
  };
  const refuseSignIn = (reply: FastifyReply, err: unknown) => {
    const message = err instanceof AirlockError ? err.message : 'sign-in failed; try again';
    web.logger.warn({ code: err instanceof AirlockError ? err.code : 'runtime.internal' }, 'console sign-in refused');
    return web.sendPage(reply, loginPage({ oidc: !!oidcSignIn, saml: !!samlSignIn, error: message }), 401);
  };

  http.get('/login', async (_req, reply) => web.sendPage(reply, loginPage({ oidc: !!oidcSignIn, saml: !!samlSignIn })));
  http.get('/auth/oidc/start', async (_req, reply) => {
    if (!oidcSignIn) throw new AirlockError('runtime.invalid_request', 'OIDC sign-in is not configured');
    const { url, flow } = await oidcSignIn.start();
    return reply.header('set-cookie', serializeCookie(flowCookie, flow, { maxAgeSeconds: 600, path: '/auth/oidc', secure: web.secure() })).redirect(url, 303);
  });
  http.get('/auth/oidc/callback', async (req, reply) => {
    if (!oidcSignIn) throw new AirlockError('runtime.invalid_request', 'OIDC sign-in is not configured');
    try {
      return await startSession(reply, 'oidc', await oidcSignIn.finish(new URL(req.url, 'http://console.invalid'), web.cookies(req).get(flowCookie)));
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
  http.post('/logout', async (req, reply) => {
    const s = await web.signedIn(req);
    if (s) await web.sessions.delete(s.id);
    return reply.header('set-cookie', serializeCookie(sessionCookie, '', { maxAgeSeconds: 0, secure: web.secure() })).redirect('/login', 303);
  });

  http.get('/', async (req, reply) => {
    const s = await web.signedIn(req);
    if (!s) return reply.redirect('/login', 303);
    const r = s.viewer.roles;
    if (r.approver) return reply.redirect('/approvals', 303);
    if (r.auditor) return reply.redirect('/sessions', 303);
    if (r.admin) return reply.redirect('/leases', 303);
    return web.sendPage(reply, homePage(s.viewer));
  });
}
