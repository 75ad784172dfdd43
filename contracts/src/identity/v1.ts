import { Type, type Static } from '@sinclair/typebox';
import { Principal } from '../common.js';
import { event, request } from '../descriptor.js';
import { eventBase } from '../event-base.js';

/** The doors a token opens, each with its own audience per issuer: a token made for one is refused at the others. */
export const Door = Type.Union([Type.Literal('database'), Type.Literal('mcp'), Type.Literal('approval'), Type.Literal('audit')]);
export type Door = Static<typeof Door>;

export const VerifyTokenRequest = Type.Object(
  {
    token: Type.String({ minLength: 1 }),
    /** the door the token is presented at; identity checks it for that door's audience of the token's issuer (default `database`) */
    door: Type.Optional(Door),
    /** an exact audience the token must carry, for a caller outside the doors; `door` is preferred */
    audience: Type.Optional(Type.String()),
    sessionId: Type.Optional(Type.String()),
    frontend: Type.Optional(Type.String()),
    /**
     * a token verified again for a session it already opened (a Snowflake token renewal): checked like a new one
     * against today's configuration, except that a SAML assertion must be one already accepted, not a new one
     */
    recheck: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VerifyTokenRequest = Static<typeof VerifyTokenRequest>;

export const VerifyTokenResponse = Type.Object(
  { principal: Principal, expiresAt: Type.String({ format: 'date-time' }) },
  { additionalProperties: false },
);
export type VerifyTokenResponse = Static<typeof VerifyTokenResponse>;

export const verifyToken = request(
  'identity',
  'v1',
  'verify',
  VerifyTokenRequest,
  VerifyTokenResponse,
  'Verifies a bearer token (OIDC JWT) and maps its claims to a principal.',
);

export const TokenVerified = Type.Object(
  { ...eventBase, principal: Principal, frontend: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type TokenVerified = Static<typeof TokenVerified>;

export const TokenRefused = Type.Object(
  {
    ...eventBase,
    code: Type.String(),
    reason: Type.String({ description: 'why the token was refused; never the token itself' }),
    issuer: Type.Optional(Type.String()),
    subject: Type.Optional(Type.String()),
    frontend: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type TokenRefused = Static<typeof TokenRefused>;

export const tokenVerified = event('identity', 'v1', 'token-verified', TokenVerified, 'A bearer token was verified.');
export const tokenRefused = event('identity', 'v1', 'token-refused', TokenRefused, 'A bearer token was refused.');
