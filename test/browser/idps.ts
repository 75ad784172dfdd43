// Identity providers for the browser tests, each built on a real library: oidc-provider (OIDC, code + PKCE) and a
// SAML IdP that answers an AuthnRequest (HTTP-Redirect) with a Response signed by xml-crypto (HTTP-POST binding).
import { createServer, type Server } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { base64, makeIdpKey, signedAssertion, signedResponse, type IdpKey } from '../../services/identity/test/saml-fixtures.ts';

export interface Person {
  groups: string[];
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/**
 * `resources`: the APIs it issues JWT access tokens for (RFC 8707 resource indicators), each with that API as its only
 * audience and the person's groups; absent, it knows no resource indicators and ignores `resource`, as some IdPs do.
 */
export async function startOidcProvider(o: { port: number; clientId: string; clientSecret: string; redirectUri: string; people: Record<string, Person>; resources?: string[] }) {
  const issuer = `http://127.0.0.1:${o.port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const resources = o.resources;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: o.clientId,
        client_secret: o.clientSecret,
        redirect_uris: [o.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    // the console reads the person's groups from the ID token
    conformIdTokenClaims: false,
    cookies: { keys: ['browser-test-cookie-key-0123456789'] },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: resources
        ? {
            enabled: true,
            getResourceServerInfo: async (_ctx: unknown, resource: string) => {
              if (!resources.includes(resource)) throw new errors.InvalidTarget();
              return { scope: '', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
            },
          }
        : { enabled: false },
    },
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; resourceServer?: unknown }) => {
      const person = token.resourceServer && token.accountId ? o.people[token.accountId] : undefined;
      return person ? { email: `${token.accountId}@example.test`, groups: person.groups } : undefined;
    },
    findAccount: async (_ctx: unknown, sub: string) => {
      const person = o.people[sub];
      if (!person) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: `${sub}@example.test`, groups: person.groups }) };
    },
  });
  // the test is the only client: keep the library's development warnings out of the output
  provider.on('server_error', () => undefined);
  const server = createServer(provider.callback());
  await listen(server, o.port);
  return { issuer, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A SAML IdP: `GET /sso` reads the AuthnRequest and answers a page that posts a signed Response to the console. */
export async function startSamlIdp(o: { port: number; audience: string; subject: string; person: Person }) {
  const key: IdpKey = await makeIdpKey('browser-test-idp');
  const entityId = `http://127.0.0.1:${o.port}/metadata`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${o.port}`);
    if (url.pathname !== '/sso') {
      res.writeHead(404).end();
      return;
    }
    const request = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const id = /\bID="([^"]+)"/.exec(request)?.[1];
    const acs = /\bAssertionConsumerServiceURL="([^"]+)"/.exec(request)?.[1];
    if (!id || !acs) {
      res.writeHead(400).end('not an AuthnRequest');
      return;
    }
    const response = signedResponse({
      key,
      issuer: entityId,
      subject: o.subject,
      audience: o.audience,
      recipient: acs,
      destination: acs,
      inResponseTo: id,
      groups: o.person.groups,
      email: `${o.subject}@example.test`,
    });
    const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><html><head><title>Test IdP</title><link rel="icon" href="data:,"></head><body><h1>Test IdP</h1><p>Signed in as ${attr(o.subject)}.</p>` +
        `<form method="post" action="${attr(acs)}"><input type="hidden" name="SAMLResponse" value="${attr(base64(response))}">` +
        `<input type="hidden" name="RelayState" value="${attr(url.searchParams.get('RelayState') ?? '')}"><button type="submit" id="continue">Continue to Airlock</button></form></body></html>`,
    );
  });
  await listen(server, o.port);
  return {
    entryPoint: `http://127.0.0.1:${o.port}/sso`,
    entityId,
    cert: key.cert,
    /** a bearer assertion of the same IdP for the same person, for another SP (the PostgreSQL door's) */
    bearerAssertion: (sp: { audience: string; recipient: string }, groups = o.person.groups) =>
      base64(signedAssertion({ key, issuer: entityId, subject: o.subject, ...sp, groups, email: `${o.subject}@example.test` })),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
