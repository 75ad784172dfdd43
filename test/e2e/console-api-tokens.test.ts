// The console never forwards an OIDC ID token: it signs a person in through the demo's own provider (oidc-provider)
// with openid-client, asks for one access token per API (RFC 8707 resource indicators), and calls each API with the
// token issued for it alone. A relay in front of each API records the bearer it was sent. Tokens the test obtains as
// the same client show that an ID token, or another API's access token, opens neither API; and a console whose IdP
// knows no resource indicators refuses to call the APIs, naming what to configure, instead of falling back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { defaultDoorAudiences } from '@airlock/config';
import { freePort, startTestStack, type TestStack } from '@airlock/testkit';
import { startOidcProvider } from '../browser/idps.ts';

const approvalAud = defaultDoorAudiences.approval;
const auditAud = defaultDoorAudiences.audit;
const clientId = 'airlock-console';

/** An HTTP relay in front of one API: records each request's bearer token and forwards the request unchanged. */
async function startRelay(target: () => string): Promise<{ url: string; bearers: string[]; close(): Promise<void> }> {
  const bearers: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      bearers.push(auth.replace(/^Bearer /, ''));
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      fetch(`${target()}${req.url}`, {
        method: req.method!,
        headers: { authorization: auth, ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
        ...(body ? { body } : {}),
      }).then(
        async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, bearers, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A user agent without a browser: a cookie jar, redirects followed by hand, the IdP's forms filled in and sent. */
class Agent {
  readonly #cookies = new Map<string, string>();

  async #send(url: URL, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      if (/;\s*max-age=0\b/i.test(line) || /;\s*expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, pair!.slice(at + 1).trim());
    }
    return res;
  }

  /** Follows redirects from `url` until a page answers or the next address satisfies `stop`. */
  async go(url: URL, init?: RequestInit, stop: (u: URL) => boolean = () => false): Promise<{ url: URL; res: Response }> {
    let at = url;
    let res = await this.#send(at, init);
    while (res.status >= 300 && res.status < 400) {
      at = new URL(res.headers.get('location')!, at);
      if (stop(at)) return { url: at, res };
      res = await this.#send(at);
    }
    return { url: at, res };
  }

  /**
   * From the authorization request at `start`, signs `login` in at the IdP, sending each form it shows (login, then
   * consent where it asks) with its hidden fields, until it redirects back out of the IdP.
   */
  async signIn(start: URL, idp: string, login: { login: string; password: string }, stop?: (u: URL) => boolean): Promise<{ url: URL; res: Response }> {
    let step = await this.go(start, undefined, stop);
    for (let forms = 0; step.url.origin === idp && step.res.status === 200 && forms < 4; forms++) {
      const page = await step.res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      assert.ok(action, `no form at ${step.url.pathname}`);
      const fields = new URLSearchParams();
      for (const input of page.matchAll(/<input\b[^>]*>/g)) {
        const name = /\bname="([^"]+)"/.exec(input[0])?.[1];
        if (!name) continue;
        const value = name === 'login' ? login.login : name === 'password' ? login.password : (/\bvalue="([^"]*)"/.exec(input[0])?.[1] ?? '');
        fields.set(name, value);
      }
      step = await this.go(new URL(action.replace(/&amp;/g, '&'), step.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() }, stop);
    }
    return step;
  }
}

/** The payload and header `typ` of a JWT as it travelled, undecoded by anything but this test. */
function jwt(token: string): { typ: string | undefined; claims: Record<string, unknown> } {
  return { typ: decodeProtectedHeader(token).typ, claims: decodeJwt(token) as Record<string, unknown> };
}

describe('the console calls each API with the access token issued for it', { timeout: 180_000 }, () => {
  let t: TestStack;
  let approvalRelay: Awaited<ReturnType<typeof startRelay>>;
  let auditRelay: Awaited<ReturnType<typeof startRelay>>;
  const api = (name: 'approval' | 'audit') => `http://127.0.0.1:${t.ports[name]}`;
  const password = (name: string) => t.signIn!.people.find((p) => p.name === name)!.password;
  const call = async (base: string, path: string, token: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const refusedAt = (door: 'approval' | 'audit', audience: string) => ({
    status: 401,
    body: {
      code: 'identity.audience_mismatch',
      message: `the ${door} API takes tokens issued for audience ${audience}, and this token was issued for another; request a token for ${audience}`,
      details: { door, audience },
    },
  });

  before(async () => {
    approvalRelay = await startRelay(() => api('approval'));
    auditRelay = await startRelay(() => api('audit'));
    t = await startTestStack({ demoConsole: true, env: { AIRLOCK_CONSOLE_APPROVAL_URL: approvalRelay.url, AIRLOCK_CONSOLE_AUDIT_URL: auditRelay.url } });
  });
  after(async () => {
    await t?.close();
    await approvalRelay?.close();
    await auditRelay?.close();
  });

  it('asks for both APIs as resources when it sends a person to sign in', async () => {
    const start = await fetch(`${t.consoleUrl}/auth/oidc/start`, { redirect: 'manual' });
    assert.equal(start.status, 303);
    assert.deepEqual(new URL(start.headers.get('location')!).searchParams.getAll('resource'), [approvalAud, auditAud]);
  });

  it('sends the approval API an access token whose audience is the approval API alone', async () => {
    const agent = new Agent();
    const landed = await agent.signIn(new URL('/auth/oidc/start', t.consoleUrl), t.signIn!.issuer, { login: 'approver-1', password: password('approver-1') });
    assert.equal(landed.url.href, `${t.consoleUrl}/approvals`);
    assert.equal(landed.res.status, 200);
    assert.match(await landed.res.text(), /<h1>Pending approvals </);
    assert.ok(approvalRelay.bearers.length > 0);
    assert.equal(new Set(approvalRelay.bearers).size, 1);
    const { typ, claims } = jwt(approvalRelay.bearers[0]!);
    // an access token (RFC 9068), not the ID token: that one's audience is the client and it carries the nonce
    assert.equal(typ, 'at+jwt');
    assert.equal(claims['aud'], approvalAud);
    assert.equal(claims['client_id'], clientId);
    assert.equal(claims['nonce'], undefined);
    assert.deepEqual([claims['iss'], claims['sub'], claims['groups']], [t.signIn!.issuer, 'approver-1', ['dba']]);
    assert.deepEqual(auditRelay.bearers, []);
    // the approval API's token opens no other API
    assert.deepEqual(await call(api('audit'), '/v1/events?tail=1', approvalRelay.bearers[0]!), refusedAt('audit', auditAud));
  });

  it('sends the audit API an access token whose audience is the audit API alone', async () => {
    const agent = new Agent();
    const landed = await agent.signIn(new URL('/auth/oidc/start', t.consoleUrl), t.signIn!.issuer, { login: 'auditor-1', password: password('auditor-1') });
    assert.equal(landed.url.href, `${t.consoleUrl}/sessions`);
    assert.equal(landed.res.status, 200);
    const audit = await agent.go(new URL('/audit', t.consoleUrl));
    assert.equal(audit.res.status, 200);
    assert.match(await audit.res.text(), /Chain verified/);
    assert.ok(auditRelay.bearers.length >= 3);
    assert.equal(new Set(auditRelay.bearers).size, 1);
    const { typ, claims } = jwt(auditRelay.bearers[0]!);
    assert.equal(typ, 'at+jwt');
    assert.equal(claims['aud'], auditAud);
    assert.equal(claims['client_id'], clientId);
    assert.deepEqual([claims['sub'], claims['groups']], ['auditor-1', ['auditors']]);
    assert.deepEqual(await call(api('approval'), '/v1/approvals', auditRelay.bearers[0]!), refusedAt('approval', approvalAud));
  });

  it('an ID token of the same sign-in, or the audit API\'s access token, opens neither API', async () => {
    // the test signs in as the console's own client, with the same library the console uses
    const redirectUri = `${t.consoleUrl}/auth/oidc/callback`;
    const config = await oidc.discovery(new URL(t.signIn!.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const params = new URLSearchParams({ redirect_uri: redirectUri, scope: 'openid groups', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
    params.append('resource', approvalAud);
    params.append('resource', auditAud);
    const back = await new Agent().signIn(oidc.buildAuthorizationUrl(config, params), t.signIn!.issuer, { login: 'approver-1', password: password('approver-1') }, (u) => u.href.startsWith(redirectUri));
    const tokens = await oidc.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true }, { resource: auditAud });
    const idToken = tokens.id_token!;
    assert.equal(jwt(idToken).claims['aud'], clientId);
    assert.equal(jwt(tokens.access_token).claims['aud'], auditAud);
    assert.notEqual(tokens.access_token, idToken);
    // what the console was sent is an access token, never an ID token
    assert.ok(!approvalRelay.bearers.includes(idToken) && !auditRelay.bearers.includes(idToken));

    assert.deepEqual(await call(api('approval'), '/v1/approvals', idToken), refusedAt('approval', approvalAud));
    assert.deepEqual(await call(api('audit'), '/v1/events?tail=1', idToken), refusedAt('audit', auditAud));
    assert.deepEqual(await call(api('approval'), '/v1/approvals', tokens.access_token), refusedAt('approval', approvalAud));
    // the same person's approval access token, from the refresh token, is what opens the approval API
    const forApproval = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: approvalAud });
    const opened = await call(api('approval'), '/v1/approvals', forApproval.access_token);
    assert.equal(opened.status, 200);
    assert.ok(Array.isArray(opened.body['approvals']));
  });
});

describe('a console whose IdP issues no access token for the APIs', { timeout: 180_000 }, () => {
  let t: TestStack;
  let idp: Awaited<ReturnType<typeof startOidcProvider>>;
  let approvalRelay: Awaited<ReturnType<typeof startRelay>>;
  let consoleUrl: string;

  before(async () => {
    approvalRelay = await startRelay(() => `http://127.0.0.1:${t.ports['approval']}`);
    const consolePort = await freePort();
    consoleUrl = `http://127.0.0.1:${consolePort}`;
    // no `resources`: it knows no resource indicators, ignores `resource` and issues an opaque access token
    idp = await startOidcProvider({ port: await freePort(), clientId, clientSecret: 'console-client-secret', redirectUri: `${consoleUrl}/auth/oidc/callback`, people: { 'dba-1': { groups: ['dba'] } } });
    t = await startTestStack({
      configure: (c) => {
        c['identity']['issuers'].push({ issuer: idp.issuer, audiences: [approvalAud, auditAud], doors: { approval: approvalAud, audit: auditAud }, algorithms: ['RS256'] });
        c['console'] = {
          oidc: { issuer: idp.issuer, clientId, clientSecret: '${AIRLOCK_CONSOLE_OIDC_SECRET}', redirectUri: `${consoleUrl}/auth/oidc/callback`, scopes: ['openid', 'groups'] },
          groups: { approvers: ['dba'], auditors: ['auditors'], admins: ['platform-admins'] },
          sessionSecret: '${AIRLOCK_CONSOLE_SESSION_SECRET}',
        };
      },
      env: {
        AIRLOCK_CONSOLE_PORT: String(consolePort),
        AIRLOCK_CONSOLE_APPROVAL_URL: approvalRelay.url,
        AIRLOCK_CONSOLE_OIDC_SECRET: 'console-client-secret',
        AIRLOCK_CONSOLE_SESSION_SECRET: 'an-api-token-test-session-secret-of-enough-length',
      },
    });
  });
  after(async () => {
    await t?.close();
    await idp?.close();
    await approvalRelay?.close();
  });

  it('signs the person in, then refuses to call the approval API, naming what the IdP must issue', async () => {
    const landed = await new Agent().signIn(new URL('/auth/oidc/start', consoleUrl), idp.issuer, { login: 'dba-1', password: 'any' });
    assert.equal(landed.url.href, `${consoleUrl}/approvals`);
    assert.equal(landed.res.status, 401);
    assert.deepEqual(await landed.res.json(), {
      code: 'console.sign_in_failed',
      message:
        `your sign-in brought no access token for the approval API: the identity provider must issue JWT access tokens for the resource ${approvalAud} ` +
        '(OAuth 2.0 resource indicators, RFC 8707) with that audience, and allow this console the refresh_token grant; then sign in again',
    });
    // nothing reached the API: no ID token in place of the missing access token
    assert.deepEqual(approvalRelay.bearers, []);
  });
});
