import type { FastifyReply, FastifyRequest } from 'fastify';
import { doorNames, type ConsoleApi, type Console as ConsoleSection } from '@airlock/config';
import { AirlockError, type Bus, type Logger } from '@airlock/runtime';
import { Secrets, parseCookies, serializeCookie } from './crypto.js';
import { html, type Html } from './html.js';
import type { LiveEvents } from './live.js';
import type { ApiResources } from './sign-in.js';
import type { SessionStore, ConsoleSession } from './store/sessions.js';
import type { Upstream } from './upstream.js';
import type { Acting } from './views/approvals.js';
import { page, type Flash, type Roles, type Viewer } from './views/layout.js';

export const sessionCookie = 'airlock_console';
export const flowCookie = 'airlock_oidc_flow';
const flashCookie = 'airlock_flash';

export interface Signed {
  id: string;
  session: ConsoleSession;
  viewer: Viewer;
}

export type RouteHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What every route group of the console shares: the signed-in person, their token, pages and flashes. */
export class ConsoleWeb {
  /** the address people open; known once the server listens when not configured */
  publicUrl: string;

  constructor(
    readonly cfg: ConsoleSection,
    readonly bus: Bus,
    readonly logger: Logger,
    readonly secrets: Secrets,
    readonly sessions: SessionStore,
    readonly approvalsApi: Upstream,
    readonly auditApi: Upstream,
    readonly live: LiveEvents,
    readonly resources: ApiResources,
    publicUrl: string,
  ) {
    this.publicUrl = publicUrl;
  }

  secure(): boolean {
    return this.publicUrl.startsWith('https:');
  }

  roleOf(groups: readonly string[]): Roles {
    const g = this.cfg.groups;
    return {
      approver: groups.some((x) => g.approvers.includes(x)),
      auditor: groups.some((x) => g.auditors.includes(x)),
      admin: groups.some((x) => g.admins.includes(x)),
    };
  }

  /**
   * The bearer credential `api` verifies for this person, as the IdP issued it: the console signs nothing of its own,
   * so a person is the IdP's subject here as at every other door (OIDC: the access token the IdP issued for that API,
   * never the ID token; SAML: the IdP's signed response, which identity checks for the console's audience and recipient).
   */
  async bearer(s: ConsoleSession, api: ConsoleApi): Promise<string> {
    const opened = s.bearerSealed ? this.secrets.unseal(s.bearerSealed) : undefined;
    const bearers = opened ? parseBearers(opened) : undefined;
    if (!bearers) throw new AirlockError('console.not_signed_in', 'your session has no usable credential; sign in again');
    const token = bearers[api];
    if (token) return token;
    throw new AirlockError(
      'console.sign_in_failed',
      `your sign-in brought no access token for ${doorNames[api]}: the identity provider must issue JWT access tokens for the resource ${this.resources[api]} ` +
        `(OAuth 2.0 resource indicators, RFC 8707) with that audience, and allow this console the refresh_token grant; then sign in again`,
    );
  }

  acting(s: ConsoleSession): Acting {
    return { subject: s.principal.subject, issuer: s.principal.issuer };
  }

  cookies(req: FastifyRequest): Map<string, string> {
    return parseCookies(req.headers.cookie);
  }

  async signedIn(req: FastifyRequest): Promise<Signed | undefined> {
    const raw = this.cookies(req).get(sessionCookie);
    const id = raw ? this.secrets.unsign(raw) : undefined;
    if (!id) return undefined;
    const session = await this.sessions.get(id);
    if (!session) return undefined;
    return { id, session, viewer: { name: session.principal.email ?? session.principal.subject, roles: this.roleOf(session.principal.groups), csrf: session.csrf } };
  }

  sendPage(reply: FastifyReply, body: Html, status = 200): FastifyReply {
    return reply.status(status).type('text/html; charset=utf-8').send(body.text);
  }

  takeFlash(req: FastifyRequest, reply: FastifyReply): Flash | undefined {
    const sealed = this.cookies(req).get(flashCookie);
    if (!sealed) return undefined;
    void reply.header('set-cookie', serializeCookie(flashCookie, '', { maxAgeSeconds: 0, secure: this.secure() }));
    const opened = this.secrets.unseal(sealed);
    return opened ? (JSON.parse(opened) as Flash) : undefined;
  }

  redirectWithFlash(reply: FastifyReply, to: string, flash: Flash): FastifyReply {
    return reply
      .header('set-cookie', serializeCookie(flashCookie, this.secrets.seal(JSON.stringify(flash)), { maxAgeSeconds: 60, secure: this.secure() }))
      .redirect(to, 303);
  }

  /** A page for one role: to the sign-in page when signed out, a plain refusal without the role. */
  withRole(role: keyof Roles, handler: (req: FastifyRequest, reply: FastifyReply, s: Signed) => Promise<unknown>): RouteHandler {
    return async (req, reply) => {
      const s = await this.signedIn(req);
      if (!s) {
        if (req.method === 'GET' && !req.headers['x-csrf-token']) return reply.redirect('/login', 303);
        throw new AirlockError('console.not_signed_in', 'sign in to the console first');
      }
      if (!s.viewer.roles[role]) {
        if (req.method === 'GET' && !req.headers['x-csrf-token']) {
          return this.sendPage(reply, page({ title: 'Not allowed', viewer: s.viewer, body: html`<section class="card narrow"><h1>Not allowed</h1><p>This page needs the ${role} role, which your groups do not give.</p></section>` }), 403);
        }
        throw new AirlockError('console.forbidden', `this needs the ${role} role, which your groups do not give`);
      }
      return handler(req, reply, s);
    };
  }
}

/** The sealed per-API tokens of a session; undefined for anything else (a session of an older console). */
function parseBearers(text: string): Partial<Record<ConsoleApi, string>> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Partial<Record<ConsoleApi, string>> = {};
  for (const [api, token] of Object.entries(value)) if ((api === 'approval' || api === 'audit') && typeof token === 'string') out[api] = token;
  return out;
}
