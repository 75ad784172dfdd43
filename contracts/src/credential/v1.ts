import { Type, type Static } from '@sinclair/typebox';
import { Principal } from '../common.js';
import { event, request } from '../descriptor.js';
import { eventBase } from '../event-base.js';
import { LeaseMode, Scope } from '../policy/v1.js';

/** What the proxy needs to open upstream connections under a lease. Contains a secret: never log it, never put it in an event. */
export const LeaseGrant = Type.Object(
  {
    leaseId: Type.String(),
    connection: Type.String(),
    username: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
    upstream: Type.Union([
      Type.Object(
        {
          type: Type.Literal('postgres'),
          host: Type.String(),
          port: Type.Integer(),
          database: Type.String(),
          password: Type.String(),
          /** TLS to the upstream, the server's certificate verified; false only when the connection says so explicitly */
          ssl: Type.Boolean(),
          /** the CA (PEM) of a private server certificate, from the admin URL's `sslrootcert` */
          sslRootCert: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          type: Type.Literal('snowflake'),
          account: Type.String(),
          accessUrl: Type.Optional(Type.String()),
          role: Type.String(),
          warehouse: Type.Optional(Type.String()),
          database: Type.Optional(Type.String()),
          schema: Type.Optional(Type.String()),
          authenticator: Type.Union([Type.Literal('SNOWFLAKE_JWT'), Type.Literal('OAUTH')]),
          privateKeyPem: Type.Optional(Type.String()),
          token: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ]),
  },
  { additionalProperties: false },
);
export type LeaseGrant = Static<typeof LeaseGrant>;

export const IssueLeaseRequest = Type.Object(
  {
    requestId: Type.String(),
    sessionId: Type.String(),
    connection: Type.String(),
    principal: Principal,
    scope: Scope,
    /** the proxy instance that will hold the lease and heartbeat it */
    holder: Type.String(),
    /** the policy decision's signed token: the lease is minted only for what it allows, once */
    decision: Type.Optional(Type.String()),
    /** for a decision that required approval: the approval service's signed grant that names that decision */
    grant: Type.Optional(Type.String()),
    /**
     * a per-statement lease only: the standby lease (`credential.v1.standby`) of this holder whose credential, and the
     * upstream connection the proxy opened under it, the lease takes; the grant answered then carries no password
     */
    standby: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type IssueLeaseRequest = Static<typeof IssueLeaseRequest>;

export const StandbyRequest = Type.Object(
  {
    connection: Type.String(),
    /** the proxy instance that will hold the standby leases and heartbeat them */
    holder: Type.String(),
    count: Type.Integer({ minimum: 1, maximum: 200 }),
  },
  { additionalProperties: false },
);
export type StandbyRequest = Static<typeof StandbyRequest>;
export const StandbyResponse = Type.Object(
  { standby: Type.Array(LeaseGrant, { description: 'as many as the pool could give, up to count; none when it is drained' }) },
  { additionalProperties: false },
);
export type StandbyResponse = Static<typeof StandbyResponse>;

export const standby = request(
  'credential',
  'v1',
  'standby',
  StandbyRequest,
  StandbyResponse,
  'Hands a proxy pooled credentials that can log in and hold no right, for it to open upstream connections ahead; each is a standby lease the proxy heartbeats until a per-statement lease takes it (issue with standby), revoked like any lease.',
);

export const issueLease = request(
  'credential',
  'v1',
  'issue',
  IssueLeaseRequest,
  LeaseGrant,
  'Mints an ephemeral database credential scoped to one role, records the lease, and returns it to the proxy.',
);

export const RevokeLeaseRequest = Type.Object(
  { leaseId: Type.String(), reason: Type.String(), requestId: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type RevokeLeaseRequest = Static<typeof RevokeLeaseRequest>;

export const LeaseState = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoking'),
  Type.Literal('revoked'),
  Type.Literal('irrevocable'),
]);
export type LeaseState = Static<typeof LeaseState>;

export const RevokeLeaseResponse = Type.Object(
  { leaseId: Type.String(), state: LeaseState },
  { additionalProperties: false },
);
export type RevokeLeaseResponse = Static<typeof RevokeLeaseResponse>;

export const revokeLease = request(
  'credential',
  'v1',
  'revoke',
  RevokeLeaseRequest,
  RevokeLeaseResponse,
  'Revokes a lease now: disables login, ends its sessions, drops the credential.',
);

export const HeartbeatRequest = Type.Object(
  { holder: Type.String(), leaseIds: Type.Array(Type.String()) },
  { additionalProperties: false },
);
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;
export const HeartbeatResponse = Type.Object(
  { renewed: Type.Array(Type.String()), unknown: Type.Array(Type.String()) },
  { additionalProperties: false },
);
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

export const heartbeat = request(
  'credential',
  'v1',
  'heartbeat',
  HeartbeatRequest,
  HeartbeatResponse,
  'A proxy instance renews the leases it holds; leases whose heartbeats stop are revoked.',
);

export const UpstreamSessionRequest = Type.Object(
  {
    leaseId: Type.String(),
    /** the session id the upstream answered at login: what the credential service ends at revocation */
    upstreamSessionId: Type.String({ pattern: '^[0-9]{1,20}$' }),
  },
  { additionalProperties: false },
);
export type UpstreamSessionRequest = Static<typeof UpstreamSessionRequest>;
export const UpstreamSessionResponse = Type.Object(
  /** false: the lease was revoked meanwhile and the session has been ended; the proxy must not use it */
  { live: Type.Boolean() },
  { additionalProperties: false },
);
export type UpstreamSessionResponse = Static<typeof UpstreamSessionResponse>;

export const upstreamSession = request(
  'credential',
  'v1',
  'upstream-session',
  UpstreamSessionRequest,
  UpstreamSessionResponse,
  'The proxy records an upstream session opened under a lease whose credential is shared (External OAuth), so that revoking the lease ends that session.',
);

export const CatalogRequest = Type.Object({ connection: Type.String() }, { additionalProperties: false });
export type CatalogRequest = Static<typeof CatalogRequest>;
export const CatalogResponse = Type.Object(
  {
    connection: Type.String(),
    searchPath: Type.Array(Type.String()),
    tables: Type.Array(
      Type.Object(
        { schema: Type.String(), table: Type.String(), columns: Type.Array(Type.String()) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CatalogResponse = Static<typeof CatalogResponse>;

export const catalog = request(
  'credential',
  'v1',
  'catalog',
  CatalogRequest,
  CatalogResponse,
  'Lists the tables and columns of a connection (read with the admin principal), for star expansion and lineage.',
);

/** A live lease as an operator sees it: who holds which role on which connection, and until when. No secret. */
export const LiveLease = Type.Object(
  {
    leaseId: Type.String(),
    connection: Type.String(),
    username: Type.String(),
    role: Type.String(),
    mode: LeaseMode,
    subject: Type.String(),
    sessionId: Type.String(),
    state: Type.Union([Type.Literal('active'), Type.Literal('revoking'), Type.Literal('irrevocable')]),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type LiveLease = Static<typeof LiveLease>;

export const ListLeasesRequest = Type.Object({}, { additionalProperties: false });
export type ListLeasesRequest = Static<typeof ListLeasesRequest>;
export const ListLeasesResponse = Type.Object(
  { leases: Type.Array(LiveLease, { description: 'ordered by connection, then by when each was minted' }) },
  { additionalProperties: false },
);
export type ListLeasesResponse = Static<typeof ListLeasesResponse>;

export const listLeases = request(
  'credential',
  'v1',
  'list-leases',
  ListLeasesRequest,
  ListLeasesResponse,
  'Lists the leases not yet revoked (active, revoking, irrevocable), without any secret: what the console shows operators.',
);

/** A lease as events and APIs show it: no secret. */
export const LeaseInfo = Type.Object(
  {
    leaseId: Type.String(),
    connection: Type.String(),
    username: Type.String(),
    role: Type.String(),
    mode: LeaseMode,
    subject: Type.String(),
    holder: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type LeaseInfo = Static<typeof LeaseInfo>;

export const CredentialIssued = Type.Object({ ...eventBase, lease: LeaseInfo }, { additionalProperties: false });
export type CredentialIssued = Static<typeof CredentialIssued>;

export const CredentialRevoked = Type.Object(
  {
    ...eventBase,
    leaseId: Type.String(),
    connection: Type.String(),
    username: Type.String(),
    reason: Type.String(),
    terminatedSessions: Type.Integer({ minimum: 0 }),
    attempts: Type.Integer({ minimum: 1 }),
    durationMs: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type CredentialRevoked = Static<typeof CredentialRevoked>;

export const CredentialRevokeFailed = Type.Object(
  {
    ...eventBase,
    leaseId: Type.String(),
    connection: Type.String(),
    username: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    error: Type.String(),
    irrevocable: Type.Boolean({ description: 'true once retries are exhausted: an operator must look' }),
  },
  { additionalProperties: false },
);
export type CredentialRevokeFailed = Static<typeof CredentialRevokeFailed>;

export const credentialIssued = event('credential', 'v1', 'issued', CredentialIssued, 'An ephemeral credential was minted.');
export const credentialRevoked = event('credential', 'v1', 'revoked', CredentialRevoked, 'An ephemeral credential was revoked and dropped.');
export const credentialRevokeFailed = event(
  'credential',
  'v1',
  'revoke-failed',
  CredentialRevokeFailed,
  'A revocation attempt failed; it is retried. `irrevocable: true` is an alert.',
);

export const CredentialRefused = Type.Object(
  {
    ...eventBase,
    connection: Type.String(),
    role: Type.String(),
    subject: Type.String(),
    /** which check failed, in words (never the token) */
    reason: Type.String(),
  },
  { additionalProperties: false },
);
export type CredentialRefused = Static<typeof CredentialRefused>;

export const credentialRefused = event(
  'credential',
  'v1',
  'refused',
  CredentialRefused,
  'An alert: a lease was asked for without a valid signed decision (forged, altered, replayed, or for a role the connection does not configure).',
);
