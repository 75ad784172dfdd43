import { Type, type Static } from '@sinclair/typebox';

/**
 * Request bodies of the Snowflake front door. Drivers add fields over time (CLIENT_ENVIRONMENT, queryContextDTO,
 * …), so every object accepts fields it does not name; the ones named here are the ones Airlock reads.
 */

export const Binding = Type.Object(
  { type: Type.Optional(Type.String()), value: Type.Optional(Type.Unknown()) },
  { additionalProperties: true },
);
export type Binding = Static<typeof Binding>;

export const Bindings = Type.Record(Type.String(), Binding);
export type Bindings = Static<typeof Bindings>;

export const LoginRequest = Type.Object(
  {
    data: Type.Object(
      {
        ACCOUNT_NAME: Type.Optional(Type.String({ maxLength: 255 })),
        AUTHENTICATOR: Type.Optional(Type.String({ maxLength: 255 })),
        /** the client's OIDC token (AUTHENTICATOR=OAUTH) */
        TOKEN: Type.Optional(Type.String({ maxLength: 65536 })),
        LOGIN_NAME: Type.Optional(Type.String()),
        CLIENT_APP_ID: Type.Optional(Type.String()),
        CLIENT_APP_VERSION: Type.Optional(Type.String()),
        SESSION_PARAMETERS: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginQuery = Type.Object(
  {
    databaseName: Type.Optional(Type.String()),
    schemaName: Type.Optional(Type.String()),
    warehouse: Type.Optional(Type.String()),
    roleName: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type LoginQuery = Static<typeof LoginQuery>;

export const QueryRequest = Type.Object(
  {
    sqlText: Type.String(),
    bindings: Type.Optional(Type.Union([Bindings, Type.Null()])),
    asyncExec: Type.Optional(Type.Boolean()),
    describeOnly: Type.Optional(Type.Boolean()),
    bindStage: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);
export type QueryRequest = Static<typeof QueryRequest>;

/** `requestId` identifies the query request to cancel (the driver's own id, sent as a query parameter). */
export const AbortRequest = Type.Object({ requestId: Type.String({ minLength: 1 }), sqlText: Type.Optional(Type.String()) }, { additionalProperties: true });
export type AbortRequest = Static<typeof AbortRequest>;

export const TokenRequest = Type.Object(
  { requestType: Type.Optional(Type.String()), oldSessionToken: Type.Optional(Type.String()) },
  { additionalProperties: true },
);
export type TokenRequest = Static<typeof TokenRequest>;

export const RequestIdQuery = Type.Object({ requestId: Type.Optional(Type.String()) }, { additionalProperties: true });
export type RequestIdQuery = Static<typeof RequestIdQuery>;

export const QueryIdParams = Type.Object({ queryId: Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }) });
export type QueryIdParams = Static<typeof QueryIdParams>;

/** SQL API v2: `POST /api/v2/statements`. */
export const StatementRequest = Type.Object(
  {
    statement: Type.String(),
    timeout: Type.Optional(Type.Integer({ minimum: 0 })),
    database: Type.Optional(Type.String()),
    schema: Type.Optional(Type.String()),
    warehouse: Type.Optional(Type.String()),
    role: Type.Optional(Type.String()),
    bindings: Type.Optional(Bindings),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);
export type StatementRequest = Static<typeof StatementRequest>;

export const StatementQuery = Type.Object(
  {
    requestId: Type.Optional(Type.String()),
    async: Type.Optional(Type.String()),
    nullable: Type.Optional(Type.String()),
    retry: Type.Optional(Type.String()),
    partition: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type StatementQuery = Static<typeof StatementQuery>;

export const HandleParams = Type.Object({ handle: Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }) });
export type HandleParams = Static<typeof HandleParams>;
