import { Type, type Static } from '@sinclair/typebox';

const Name = Type.String({ pattern: '^[A-Za-z0-9_.-]+$', minLength: 1 });
const Glob = Type.String({ minLength: 1, description: 'a name pattern: * matches any run of characters, ? one character; case-insensitive' });
const Kind = Type.Union(
  ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'grant', 'transaction', 'set', 'show', 'explain', 'copy', 'call', 'utility', 'other'].map(
    (k) => Type.Literal(k),
  ),
);

export const Issuer = Type.Object(
  {
    issuer: Type.String({ minLength: 1, description: 'the exact `iss` value; discovery at <issuer>/.well-known/openid-configuration' }),
    /** every audience accepted from this issuer; the first is the database doors' unless `doors` says otherwise */
    audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    /**
     * The audience each door takes from this issuer, so that a token made for one door is refused at every other.
     * Absent: the database doors take the first of `audiences`; MCP takes `mcp.resource`, the approval API
     * `approval.audience`, the audit API `audit.audience`, each only when listed in `audiences`. Present: only the doors
     * named here accept this issuer's tokens.
     */
    doors: Type.Optional(
      Type.Object(
        {
          /** the PostgreSQL and Snowflake front doors */
          database: Type.Optional(Type.String({ minLength: 1 })),
          mcp: Type.Optional(Type.String({ minLength: 1 })),
          approval: Type.Optional(Type.String({ minLength: 1 })),
          audit: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    algorithms: Type.Optional(Type.Array(Type.Union(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'].map((a) => Type.Literal(a))), { minItems: 1 })),
    jwksUri: Type.Optional(Type.String({ description: 'skips discovery when given' })),
    groupsClaim: Type.Optional(Type.String()),
    emailClaim: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type Issuer = Static<typeof Issuer>;

export const DevIssuer = Type.Object(
  {
    enabled: Type.Boolean(),
    issuer: Type.Optional(Type.String({ description: 'default http://127.0.0.1:8083/dev' })),
    audience: Type.Optional(Type.String({ description: 'default audience of minted tokens: airlock' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

/** A SAML 2.0 IdP whose signed assertions are accepted as bearer credentials, beside the OIDC issuers. */
export const SamlIdp = Type.Object(
  {
    /** the IdP's entityID: the assertion's `<Issuer>` */
    issuer: Type.String({ minLength: 1 }),
    /** the IdP's metadata XML (its signing certificates are read from it), or `idpCert` */
    idpMetadata: Type.Optional(Type.String({ minLength: 1 })),
    /** PEM certificate(s) or bare base64 DER of the IdP's signing key */
    idpCert: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })])),
    /** the `<Audience>` the assertion must name (Airlock's SP entityID) */
    audience: Type.String({ minLength: 1 }),
    /** the `Recipient` of its bearer `<SubjectConfirmationData>` */
    recipient: Type.String({ minLength: 1 }),
    /** the attribute holding the principal's groups (default `groups`) */
    groupsAttribute: Type.Optional(Type.String({ minLength: 1 })),
    /** the attribute holding the e-mail address (default `email`) */
    emailAttribute: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type SamlIdp = Static<typeof SamlIdp>;

export const Identity = Type.Object(
  {
    issuers: Type.Array(Issuer),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
    devIssuer: Type.Optional(DevIssuer),
    saml: Type.Optional(Type.Array(SamlIdp)),
  },
  { additionalProperties: false },
);

const Leases = Type.Object(
  {
    rolePrefix: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{1,20}$' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 10 })),
    maxTtlSeconds: Type.Optional(Type.Integer({ minimum: 10 })),
    mode: Type.Optional(Type.Union([Type.Literal('session'), Type.Literal('statement')])),
    /** a per-session lease unused this long is revoked; the session's next statement mints a new one (default 900) */
    idleSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * PostgreSQL: what happens to objects a lease created when it is revoked. `reassign` (default) hands them to
     * `leftoverRole`, a role without login, members or privileges, so nothing runs with more than nothing;
     * `drop` drops them. Never the admin.
     */
    leftovers: Type.Optional(Type.Union([Type.Literal('reassign'), Type.Literal('drop')])),
    /** the powerless owner of reassigned leftovers (default `airlock_leftovers`); outside the lease prefix */
    leftoverRole: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{1,62}$' })),
    /**
     * PostgreSQL: roles created ahead for per-statement leases, so a statement's lease is one ALTER ROLE and a GRANT
     * instead of a CREATE ROLE. A pooled role can do nothing until it is leased (NOLOGIN, no password, no membership);
     * one unused for `maxWaitSeconds` (default 300) is dropped and replaced. `size` per connection, for all its roles.
     */
    pool: Type.Optional(
      Type.Object(
        {
          size: Type.Integer({ minimum: 1, maximum: 200 }),
          maxWaitSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 86_400 })),
          /**
           * connections each proxy opens ahead under pooled credentials (default 0): such a credential can log in but
           * holds no right, and a per-statement lease then only grants it its role, on the connection already open
           */
          open: Type.Optional(Type.Integer({ minimum: 0, maximum: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const Limits = Type.Object(
  {
    maxRows: Type.Optional(Type.Integer({ minimum: 1 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

/** A connection's per-statement limits when `limits` leaves them out. */
export const defaultStatementLimits = { maxRows: 100_000, timeoutMs: 30_000 } as const;

/** The limits every statement on a connection runs under: its `limits`, the defaults for what they leave out. */
export function statementLimits(connection: { limits?: { maxRows?: number; timeoutMs?: number } } | undefined): { maxRows: number; timeoutMs: number } {
  return {
    maxRows: connection?.limits?.maxRows ?? defaultStatementLimits.maxRows,
    timeoutMs: connection?.limits?.timeoutMs ?? defaultStatementLimits.timeoutMs,
  };
}

const Detectors = Type.Object(
  {
    email: Type.Optional(Type.Boolean()),
    card: Type.Optional(Type.Boolean()),
    ssn: Type.Optional(Type.Boolean()),
    iban: Type.Optional(Type.Boolean()),
    phone: Type.Optional(Type.Boolean()),
    ip: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const Recording = Type.Object(
  {
    /** rows of each result kept in the audit log for replay (masked values only); 0 keeps none */
    rows: Type.Optional(Type.Integer({ minimum: 0 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

const connectionCommon = {
  recording: Type.Optional(Recording),
  /** logical role name in policies → the database role of this connection */
  roles: Type.Record(Name, Type.String({ minLength: 1 })),
  leases: Type.Optional(Leases),
  limits: Type.Optional(Limits),
  detectors: Type.Optional(Detectors),
};

export const PostgresConnection = Type.Object(
  {
    type: Type.Literal('postgres'),
    /** the privileged URL; read by the credential service alone. `${VAR}` and `${VAR:-default}` are expanded from its environment. */
    adminUrl: Type.String({ minLength: 1 }),
    /**
     * TLS to this upstream, for the credential service and the proxy alike: `verify-full` (the default: encrypted, the
     * server's certificate and host name verified) or `disable` (clear text, said explicitly). The admin URL's
     * `sslmode=disable` counts the same; `sslmode=prefer`/`allow` are refused.
     */
    tls: Type.Optional(Type.Union([Type.Literal('verify-full'), Type.Literal('disable')])),
    ...connectionCommon,
  },
  { additionalProperties: false },
);
export type PostgresConnection = Static<typeof PostgresConnection>;

export const SnowflakeConnection = Type.Object(
  {
    type: Type.Literal('snowflake'),
    account: Type.String({ minLength: 1 }),
    accessUrl: Type.Optional(Type.String({ description: 'https://<account>.snowflakecomputing.com unless given' })),
    warehouse: Type.Optional(Type.String()),
    database: Type.Optional(Type.String()),
    schema: Type.Optional(Type.String()),
    strategy: Type.Optional(Type.Union([Type.Literal('ephemeral-user'), Type.Literal('external-oauth')])),
    admin: Type.Object(
      {
        user: Type.String({ minLength: 1 }),
        /** PEM text or `${VAR}`; read by the credential service alone */
        privateKey: Type.Optional(Type.String()),
        privateKeyPath: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
        role: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    externalOAuth: Type.Optional(
      Type.Object(
        {
          issuer: Type.String(),
          audience: Type.String(),
          /** the pre-created Snowflake user each logical role logs in as */
          users: Type.Record(Name, Type.String()),
          /** where the credential service serves its JWKS for Snowflake's security integration */
          jwksPath: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    ...connectionCommon,
  },
  { additionalProperties: false },
);
export type SnowflakeConnection = Static<typeof SnowflakeConnection>;

export const Connection = Type.Union([PostgresConnection, SnowflakeConnection]);
export type Connection = Static<typeof Connection>;

export const Policy = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    groups: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'principal groups this rule applies to; "*" for everyone' }),
    connections: Type.Optional(Type.Array(Glob)),
    kinds: Type.Array(Kind, { minItems: 1 }),
    tables: Type.Optional(Type.Array(Glob, { description: 'table or schema.table patterns; every table of the statement must match' })),
    decision: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('approval')]),
    reason: Type.Optional(Type.String()),
    role: Type.Optional(Name),
    approvers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    quorum: Type.Optional(Type.Integer({ minimum: 1 })),
    leaseMode: Type.Optional(Type.Union([Type.Literal('session'), Type.Literal('statement')])),
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof Policy>;

const Action = Type.Union([
  Type.Literal('redact'),
  Type.Literal('null'),
  Type.Literal('email'),
  Type.Literal('hash'),
  Type.Object({ partial: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
]);

export const MaskingRuleConfig = Type.Object(
  {
    name: Name,
    connections: Type.Optional(Type.Array(Glob)),
    schema: Type.Optional(Glob),
    table: Glob,
    columns: Type.Array(Glob, { minItems: 1 }),
    action: Action,
    exemptGroups: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type MaskingRuleConfig = Static<typeof MaskingRuleConfig>;

export const Masking = Type.Object(
  {
    /** HMAC key for the `hash` action; `${VAR}` expanded by the proxy */
    hashKey: Type.Optional(Type.String()),
    /** what to do with a statement that filters, joins, groups or orders on a masked column */
    inference: Type.Optional(Type.Union([Type.Literal('deny'), Type.Literal('approval')])),
    inferenceApprovers: Type.Optional(Type.Array(Type.String())),
    rules: Type.Array(MaskingRuleConfig),
  },
  { additionalProperties: false },
);

export const Guardrails = Type.Object(
  {
    allowMultipleStatements: Type.Optional(Type.Boolean()),
    /** globs over function names refused whatever their class (checked before `allowFunctions`) */
    forbiddenFunctions: Type.Optional(Type.Array(Type.String())),
    /** globs over function names allowed although their class is refused or they are not on the allow-list */
    allowFunctions: Type.Optional(Type.Array(Type.String())),
    /** parameters an agent may change besides the listed ones (PostgreSQL SET/RESET, Snowflake ALTER SESSION); pinned ones stay refused */
    allowSettings: Type.Optional(Type.Array(Type.String())),
    /** `pg_catalog`/`information_schema` relations readable besides the metadata allow-list (never statistics, statement text or credentials) */
    allowCatalogRelations: Type.Optional(Type.Array(Type.String())),
    /** the largest statement analysed, in bytes (UTF-8); larger ones are refused before parsing */
    maxStatementBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    /** the largest parse tree analysed, in nodes */
    maxParseNodes: Type.Optional(Type.Integer({ minimum: 1 })),
    /** the longest analysis of one statement, in milliseconds; a slower analysis is refused */
    maxAnalysisMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

/** What a stranger may hold before logging in, and what one principal may hold after; each per proxy instance. */
export const ProxyLimits = Type.Object(
  {
    /** a PostgreSQL connection that has not authenticated this many seconds after it opened is closed (default 10) */
    authTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** connections to the PostgreSQL door not yet authenticated, in all (default 512) */
    maxUnauthenticated: Type.Optional(Type.Integer({ minimum: 1 })),
    /** connections to the PostgreSQL door not yet authenticated, from one source address (default 64) */
    maxUnauthenticatedPerAddress: Type.Optional(Type.Integer({ minimum: 1 })),
    /** the largest startup or password message accepted before authentication, in bytes (default 16384) */
    maxStartupBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    /** the largest HTTP request body read before its sender is authenticated (Snowflake login), in bytes, compressed or not (default 65536) */
    maxLoginBodyBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    /** the largest HTTP request body of an authenticated request, in bytes, after decompression (default 16777216) */
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    /** open sessions (PostgreSQL connections, Snowflake logins, MCP sessions) of one principal (default 20) */
    sessionsPerPrincipal: Type.Optional(Type.Integer({ minimum: 1 })),
    /** statements of one principal running at once, across its sessions (default 20) */
    statementsPerPrincipal: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type ProxyLimits = Static<typeof ProxyLimits>;

export const Proxy = Type.Object(
  {
    tls: Type.Optional(Type.Object({ certPath: Type.String(), keyPath: Type.String() }, { additionalProperties: false })),
    /** listen on a non-loopback address without TLS (tokens then cross the network in clear): only when true */
    allowInsecureNonLoopback: Type.Optional(Type.Boolean()),
    heartbeatSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    limits: Type.Optional(ProxyLimits),
  },
  { additionalProperties: false },
);

export const ApprovalWebhook = Type.Object(
  {
    url: Type.String({ pattern: '^https?://' }),
    /** `json`: the generic JSON body; `slack`: a Slack-compatible incoming-webhook message (`text` + `blocks`) */
    format: Type.Union([Type.Literal('json'), Type.Literal('slack')]),
  },
  { additionalProperties: false },
);
export type ApprovalWebhook = Static<typeof ApprovalWebhook>;

export const Approval = Type.Object(
  {
    /** how long a request stays pending before it expires (default 900) */
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** how long a front door holds a statement waiting for the decision before it answers "pending" (default 30) */
    holdSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    /** how long a one-shot grant waits for its statement to be sent again (default 600) */
    oneShotSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** the longest time window an approver may grant with `--for` (default 28800, 8 h) */
    maxWindowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** where each new request and each decision is announced, retried with backoff through a durable outbox */
    webhooks: Type.Optional(Type.Array(ApprovalWebhook)),
    /** the audience of tokens made for the approval API (default http://127.0.0.1:8081); list it in the issuer's `audiences` */
    audience: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** The policy service's own settings (the rules themselves are `policies`). */
export const PolicyService = Type.Object(
  {
    /**
     * How long a proxy may reuse an allowed decision for the same statement text on the same session without asking
     * again, in seconds (default 5; 0 decides every statement anew). A changed config (a policy process started with
     * it) or catalogue ends reuse at once through `policy.v1.epoch-changed`; this is the bound when that event is lost.
     */
    decisionCacheSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  },
  { additionalProperties: false },
);

/** The audit read API (search, replay, verify). */
export const AuditApi = Type.Object(
  {
    /** the audience of tokens made for the audit API (default http://127.0.0.1:8082); list it in the issuer's `audiences` */
    audience: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * How reads of the metadata surface (catalog and `INFORMATION_SCHEMA` reads, `SHOW`/`DESCRIBE`) are recorded:
     * `each` (default) records every one like any statement; `summary` records their count on the session's
     * `session-closed` event instead. Refusals and failures are always recorded one by one.
     */
    metadataReads: Type.Optional(Type.Union([Type.Literal('each'), Type.Literal('summary')])),
  },
  { additionalProperties: false },
);

/** Airlock's own MCP endpoint (`/mcp` on the proxy's HTTP server), an OAuth 2.1 protected resource. */
export const Mcp = Type.Object(
  {
    /** the canonical URL of the endpoint: tokens must carry it as audience; default http://127.0.0.1:8080/mcp */
    resource: Type.Optional(Type.String({ minLength: 1 })),
    /** named in the protected resource metadata; default the configured issuers */
    authorizationServers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    /** browser origins allowed besides the endpoint's own (absent Origin is always allowed) */
    allowedOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** the most rows one `query` call returns; default 1000 */
    maxRows: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type Mcp = Static<typeof Mcp>;

/** The web console for approvers, auditors and admins (`services/console`). Sign-in by OIDC, SAML or both. */
export const Console = Type.Object(
  {
    oidc: Type.Optional(
      Type.Object(
        {
          issuer: Type.String({ minLength: 1 }),
          clientId: Type.String({ minLength: 1 }),
          /** absent for a public client (PKCE only); `${VAR}` expanded */
          clientSecret: Type.Optional(Type.String()),
          redirectUri: Type.String({ pattern: '^https?://' }),
          scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        },
        { additionalProperties: false },
      ),
    ),
    saml: Type.Optional(
      Type.Object(
        {
          /** the IdP's single sign-on URL (HTTP-Redirect binding) */
          entryPoint: Type.String({ pattern: '^https?://' }),
          /** the console's SP entityID */
          issuer: Type.String({ minLength: 1 }),
          /** PEM certificate of the IdP's signing key */
          idpCert: Type.String({ minLength: 1 }),
          audience: Type.String({ minLength: 1 }),
          /**
           * the console's assertion consumer service: <console>/auth/saml/callback. The console relays each person's
           * assertion (this audience, this recipient) to the approval and audit APIs: list the IdP in identity.saml.
           */
          callbackUrl: Type.String({ pattern: '^https?://' }),
          groupsAttribute: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** IdP groups per console role: approvers decide, auditors read audit and sessions, admins revoke leases */
    groups: Type.Object(
      {
        approvers: Type.Array(Type.String({ minLength: 1 })),
        auditors: Type.Array(Type.String({ minLength: 1 })),
        admins: Type.Array(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    /** signs cookies and seals session data; `${VAR}`, expanded by the console alone; 32 characters at least */
    sessionSecret: Type.String({ minLength: 1 }),
    sessionTtlSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
  },
  { additionalProperties: false },
);
export type Console = Static<typeof Console>;

/** The HTTP doors of the approval, audit and console services (the proxy's doors take `proxy.tls`). */
export const HttpDoors = Type.Object(
  {
    /** serve HTTPS with this certificate and key, read again when either file changes */
    tls: Type.Optional(Type.Object({ certPath: Type.String(), keyPath: Type.String() }, { additionalProperties: false })),
    /** listen on a non-loopback address without TLS (bearer tokens then cross the network in clear): only when true */
    allowInsecureNonLoopback: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type HttpDoors = Static<typeof HttpDoors>;

/** The message bus, as `airlock up` may use it. */
export const BusSettings = Type.Object(
  {
    /**
     * Run on a NATS server that accepts connections without credentials (anyone who reaches it can publish any
     * request). Off by default: outside the demo, `airlock up` refuses such a bus unless this is true.
     */
    allowUnauthenticated: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BusSettings = Static<typeof BusSettings>;

export const AirlockConfig = Type.Object(
  {
    version: Type.Literal(1),
    identity: Identity,
    connections: Type.Record(Name, Connection),
    policies: Type.Array(Policy),
    policy: Type.Optional(PolicyService),
    masking: Type.Optional(Masking),
    guardrails: Type.Optional(Guardrails),
    proxy: Type.Optional(Proxy),
    approval: Type.Optional(Approval),
    audit: Type.Optional(AuditApi),
    mcp: Type.Optional(Mcp),
    console: Type.Optional(Console),
    bus: Type.Optional(BusSettings),
    http: Type.Optional(HttpDoors),
  },
  { additionalProperties: false },
);
export type AirlockConfig = Static<typeof AirlockConfig>;
