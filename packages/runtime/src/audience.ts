import { decodeJwt } from 'jose';

/** The default audiences of the HTTP APIs, as the demo and the docs name them. */
export const defaultAudiences = Object.freeze({ approval: 'http://127.0.0.1:8081', audit: 'http://127.0.0.1:8082' });

/**
 * The audience to verify a bearer token for at an HTTP API: the API's own when the token names it, else none, which the
 * identity service reads as the issuer's default audience (the database doors' `airlock`). The token's claims are read
 * without checking them only to pick the audience; identity then verifies the token for exactly that audience.
 */
export function audienceAt(token: string, own: string): string | undefined {
  try {
    const aud = decodeJwt(token).aud;
    const named = Array.isArray(aud) ? aud : aud === undefined ? [] : [aud];
    return named.includes(own) ? own : undefined;
  } catch {
    return undefined;
  }
}
