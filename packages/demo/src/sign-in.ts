import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import Provider, { errors, type OidcContext } from 'oidc-provider';

/** A person the demo's identity provider signs in. */
export interface DemoPerson {
  name: string;
  groups: string[];
  /** drawn at random each time the provider starts; `airlock up` prints it */
  password: string;
}

/** Who may sign in to the demo console: one approver (dba) and one auditor. */
export const demoPeople: ReadonlyArray<{ name: string; groups: readonly string[] }> = Object.freeze([
  { name: 'approver-1', groups: ['dba'] },
  { name: 'auditor-1', groups: ['auditors'] },
]);

export interface DemoSignIn {
  /** the provider's issuer URL (discovery at <issuer>/.well-known/openid-configuration) */
  issuer: string;
  people: DemoPerson[];
  close(): Promise<void>;
}

/**
 * The demo's own OpenID Connect provider, for the console's development sign-in: authorization code with PKCE for one
 * registered public client (the console), a login form checked against the demo people and their passwords, ID
 * tokens (RS256, a key made at start) that carry the person's groups, and, per resource the console asks for (RFC 8707
 * resource indicators: the approval and audit APIs), a JWT access token whose audience is that resource alone and which
 * carries the groups too. It keeps everything in memory and listens on the loopback interface only; `airlock up`
 * starts it in demo mode alone.
 */
export async function startDemoSignIn(options: { port: number; clientId: string; redirectUri: string; resources: readonly string[]; host?: string }): Promise<DemoSignIn> {
  const host = options.host ?? '127.0.0.1';
  const people: DemoPerson[] = demoPeople.map((p) => ({ name: p.name, groups: [...p.groups], password: randomBytes(9).toString('base64url') }));
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const issuer = `http://${host}:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        redirect_uris: [options.redirectUri],
        // the refresh token fetches the access token of each API after the first, which the code brings
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // a public client: PKCE stands in for a secret
        token_endpoint_auth_method: 'none',
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: `demo-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' }] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], groups: ['groups'] },
    // the console reads the person's groups from the ID token
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    adapter: memoryAdapter(),
    // a console session lasts as long as its shortest token: the access tokens live as long as the ID token
    ttl: { Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600, AuthorizationCode: 60, AccessToken: 3600, IdToken: 3600, RefreshToken: 600 },
    // without the offline_access scope, which would ask for consent: the console spends it at sign-in
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (!options.resources.includes(resource)) throw new errors.InvalidTarget();
          // no scope of its own: what a person may do there is the API's decision, from the groups
          return { scope: '', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    // the APIs read the person's groups from the access token as other doors read them from their tokens
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; resourceServer?: unknown }) => {
      const person = token.resourceServer ? people.find((p) => p.name === token.accountId) : undefined;
      return person ? { groups: person.groups } : undefined;
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // the console is the demo's own client: no consent screen
    loadExistingGrant: async (ctx: OidcContext) => {
      const existing = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) return provider.Grant.find(existing);
      const grant = new provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid groups');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx: unknown, sub: string) => {
      const person = people.find((p) => p.name === sub);
      if (!person) return undefined;
      return { accountId: sub, claims: async () => ({ sub, groups: person.groups }) };
    },
  });
  // errors reach the browser as the provider's own error page; its stack traces are of no use to a demo user
  provider.on('server_error', () => undefined);
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    const login = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(path);
    if (!login) return callback(req, res);
    void interaction(provider, people, req, res, login[2] !== undefined).catch(() => {
      if (!res.headersSent) loginPage(res, 400, undefined, 'This sign-in expired or is unknown: go back to the console and sign in again.');
    });
  });
  return { issuer, people, close: () => closeServer(server) };
}

/**
 * The provider's state (interactions, sessions, grants, codes, tokens) in this provider's own memory: lost at a
 * restart, which ends every demo sign-in anyway since the keys are new.
 */
function memoryAdapter(): (model: string) => object {
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  const get = (key: string) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };
  return (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    return {
      upsert: async (id: string, payload: Record<string, unknown>, expiresIn?: number) => {
        store.set(key(id), { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity });
      },
      find: async (id: string) => get(key(id)),
      findByUid: async (uid: string) => [...store.keys()].filter((k) => k.startsWith(`${model}:`)).map(get).find((p) => p?.['uid'] === uid),
      findByUserCode: async () => undefined,
      consume: async (id: string) => {
        const payload = get(key(id));
        if (payload) payload['consumed'] = Math.floor(Date.now() / 1000);
      },
      destroy: async (id: string) => void store.delete(key(id)),
      revokeByGrantId: async (grantId: string) => {
        for (const [k, entry] of store) if (entry.payload['grantId'] === grantId) store.delete(k);
      },
    };
  };
}

async function interaction(provider: Provider, people: DemoPerson[], req: IncomingMessage, res: ServerResponse, submitted: boolean): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
  if (!submitted) return loginPage(res, 200, details.uid);
  if (req.method !== 'POST') return loginPage(res, 405, details.uid, 'Send the form to sign in.');
  const form = new URLSearchParams(await readBody(req, 4096));
  const name = form.get('login') ?? '';
  const person = people.find((p) => p.name === name);
  if (!person || !samePassword(form.get('password') ?? '', person.password)) {
    return loginPage(res, 401, details.uid, 'Unknown user or wrong password: the passwords are printed by npm start.');
  }
  await provider.interactionFinished(req, res, { login: { accountId: person.name } }, { mergeWithLastSubmission: false });
}

function samePassword(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function loginPage(res: ServerResponse, status: number, uid: string | undefined, error?: string): void {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const form = uid
    ? `<form method="post" action="/interaction/${escape(uid)}/login">
<label>User <input name="login" autocomplete="username" autofocus required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>`
    : '';
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock demo sign-in</title><link rel="icon" href="data:,">
<style>body{font:16px system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;font:inherit}button{padding:.5rem 1.2rem;font:inherit}.error{color:#a00}</style></head>
<body><h1>Airlock demo sign-in</h1><p>The demo's own identity provider. Users: approver-1 (group dba), auditor-1 (group auditors).</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}${form}</body></html>`);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > limit) {
        reject(new Error('form too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
