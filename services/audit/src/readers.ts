import { identityV1 } from '@airlock/contracts';
import { AirlockError, newContext, type Bus } from '@airlock/runtime';

/** Verifies a reader's bearer token and returns who it is. */
export type Authenticate = (token: string) => Promise<{ subject: string; groups: string[] }>;

/** The identity service's verify over the bus, for the audit API's own audience. */
export function identityAuthenticator(bus: Bus): Authenticate {
  return async (token) => {
    // the audit API's own audience: a token made for a database door or another API is refused here
    const { principal } = await bus.call(identityV1.verifyToken, { token, frontend: 'http', door: 'audit' }, newContext());
    return principal;
  };
}

/** Who may read the audit log: a verified bearer token whose groups include one of the reader groups. */
export function readerCheck(authenticate: Authenticate, readerGroups: readonly string[]): (authorization: string | undefined) => Promise<{ subject: string; groups: string[] }> {
  return async (authorization) => {
    const token = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new AirlockError('identity.missing_token', 'send an OIDC token as "Authorization: Bearer <token>"');
    const who = await authenticate(token);
    if (!who.groups.some((g) => readerGroups.includes(g))) {
      throw new AirlockError('audit.forbidden', `reading the audit log needs one of the groups: ${readerGroups.join(', ')}`);
    }
    return who;
  };
}
