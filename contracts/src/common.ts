import { Type, type Static } from '@sinclair/typebox';

/** An authenticated caller, as the identity service maps it from verified token claims. */
export const Principal = Type.Object(
  {
    subject: Type.String({ minLength: 1, description: 'the token `sub` claim' }),
    issuer: Type.String({ minLength: 1, description: 'the token `iss` claim' }),
    email: Type.Optional(Type.String()),
    groups: Type.Array(Type.String(), { description: 'groups from the configured groups claim' }),
  },
  { $id: 'Principal', additionalProperties: false },
);
export type Principal = Static<typeof Principal>;

export const Dialect = Type.Union([Type.Literal('postgres'), Type.Literal('snowflake')], { $id: 'Dialect' });
export type Dialect = Static<typeof Dialect>;

/** A column of a table, named as the database stores it (PostgreSQL folds unquoted names to lower case, Snowflake to upper case). */
export const ColumnRef = Type.Object(
  {
    schema: Type.String(),
    table: Type.String(),
    column: Type.String(),
  },
  { $id: 'ColumnRef', additionalProperties: false },
);
export type ColumnRef = Static<typeof ColumnRef>;

export const TableRef = Type.Object(
  {
    schema: Type.String(),
    table: Type.String(),
    access: Type.Union([Type.Literal('read'), Type.Literal('write')]),
  },
  { $id: 'TableRef', additionalProperties: false },
);
export type TableRef = Static<typeof TableRef>;

/** Statement kinds, dialect-neutral. */
export const StatementKind = Type.Union(
  [
    Type.Literal('select'),
    Type.Literal('insert'),
    Type.Literal('update'),
    Type.Literal('delete'),
    Type.Literal('merge'),
    Type.Literal('ddl'),
    Type.Literal('grant'),
    Type.Literal('transaction'),
    Type.Literal('set'),
    Type.Literal('show'),
    Type.Literal('explain'),
    Type.Literal('copy'),
    Type.Literal('call'),
    Type.Literal('utility'),
    Type.Literal('other'),
  ],
  { $id: 'StatementKind' },
);
export type StatementKind = Static<typeof StatementKind>;

export const OutputColumn = Type.Object(
  {
    name: Type.String({ description: 'the output column name as the client sees it' }),
    sources: Type.Array(ColumnRef, { description: 'every source column the value is derived from' }),
    exact: Type.Boolean({ description: 'false when lineage could not be established and sources is every column the statement reads' }),
  },
  { $id: 'OutputColumn', additionalProperties: false },
);
export type OutputColumn = Static<typeof OutputColumn>;

/**
 * Where a column is used outside the value it returns. Besides the clauses that filter, join, group and order:
 * `rows` decides how many rows come back (LIMIT/OFFSET/FETCH, TABLESAMPLE, FROM-function arguments, set-returning
 * functions in the select list, window frame bounds), `condition` decides a branch (CASE WHEN, COALESCE/NULLIF/
 * GREATEST/LEAST, AND/OR), and `error` reaches something that may raise an error on some values (a cast, arithmetic,
 * a function argument not known to be total), so that whether the statement fails tells the value.
 */
export const ColumnUsageClause = Type.Union([
  Type.Literal('where'),
  Type.Literal('join'),
  Type.Literal('group'),
  Type.Literal('having'),
  Type.Literal('order'),
  Type.Literal('window'),
  Type.Literal('rows'),
  Type.Literal('condition'),
  Type.Literal('error'),
]);
export type ColumnUsageClause = Static<typeof ColumnUsageClause>;

/** A source column used outside the select list, where it can leak through inference. */
export const ColumnUsage = Type.Object(
  { column: ColumnRef, clause: ColumnUsageClause },
  { $id: 'ColumnUsage', additionalProperties: false },
);
export type ColumnUsage = Static<typeof ColumnUsage>;

/** The dialect-neutral analysis of one SQL text. */
export const Analysis = Type.Object(
  {
    dialect: Dialect,
    statementCount: Type.Integer({ minimum: 0 }),
    kind: StatementKind,
    /** kinds of every statement when the text holds several */
    kinds: Type.Array(StatementKind),
    tables: Type.Array(TableRef),
    outputColumns: Type.Array(OutputColumn),
    usages: Type.Array(ColumnUsage),
    functions: Type.Array(Type.String(), { description: 'lower-cased function names called, schema-qualified when written so' }),
    /** sha256 hex of the statement's parse tree without positions: equal for the same statement however it is spaced */
    fingerprint: Type.String(),
    /** the statement text, trimmed and with a trailing semicolon removed */
    normalized: Type.String(),
    /**
     * What a transaction-control statement (`kind: 'transaction'`, the first statement of the text) does: `begin`
     * (BEGIN, START TRANSACTION), `commit` (COMMIT, END), `rollback` (ROLLBACK, ABORT), `savepoint` (SAVEPOINT,
     * RELEASE, ROLLBACK TO), `prepared` (two-phase commit). The proxy keeps a transaction's state by it.
     */
    transaction: Type.Optional(
      Type.Union([Type.Literal('begin'), Type.Literal('commit'), Type.Literal('rollback'), Type.Literal('savepoint'), Type.Literal('prepared')]),
    ),
    /**
     * A `COMMIT AND CHAIN` or `ROLLBACK AND CHAIN`: a new transaction with the same characteristics starts at once, so
     * the proxy keeps the session inside a transaction.
     */
    chain: Type.Optional(Type.Literal(true)),
    /**
     * A session-level prepared statement or cursor the statement creates, uses or drops (PostgreSQL `PREPARE`,
     * `EXECUTE`, `DEALLOCATE`, `DECLARE … CURSOR`, `FETCH`, `MOVE`, `CLOSE`); `name` is null for `… ALL`. The proxy
     * masks what `EXECUTE` and `FETCH` return with the plan decided at `PREPARE` and `DECLARE`.
     */
    named: Type.Optional(
      Type.Object(
        {
          verb: Type.Union(['prepare', 'execute', 'deallocate', 'declare', 'fetch', 'move', 'close'].map((v) => Type.Literal(v))),
          name: Type.Union([Type.String(), Type.Null()]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'Analysis', additionalProperties: false },
);
export type Analysis = Static<typeof Analysis>;

export const MaskAction = Type.Union(
  [
    Type.Object({ kind: Type.Literal('redact') }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('null') }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('partial'), keep: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('email') }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('hash') }, { additionalProperties: false }),
  ],
  { $id: 'MaskAction' },
);
export type MaskAction = Static<typeof MaskAction>;

export const DetectorName = Type.Union([
  Type.Literal('email'),
  Type.Literal('card'),
  Type.Literal('ssn'),
  Type.Literal('iban'),
  Type.Literal('phone'),
  Type.Literal('ip'),
]);
export type DetectorName = Static<typeof DetectorName>;

/** How the proxy masks each output column of one statement, by position. */
export const MaskingPlan = Type.Object(
  {
    columns: Type.Array(
      Type.Object(
        {
          index: Type.Integer({ minimum: 0 }),
          name: Type.String(),
          action: Type.Union([MaskAction, Type.Null()]),
          /** the masking rule and source column that made the action, for the explanation */
          reason: Type.Optional(Type.String()),
          /** false skips the content detectors for this column (a principal exempt from every rule on its sources) */
          detect: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /** when true every column not listed is redacted: used when the result shape is unknown */
    maskUnlisted: Type.Boolean(),
    detectors: Type.Array(DetectorName, { description: 'content detectors to run on every text value' }),
  },
  { $id: 'MaskingPlan', additionalProperties: false },
);
export type MaskingPlan = Static<typeof MaskingPlan>;

/** Public signing keys of one service, as a JSON Web Key Set (RFC 7517): what verifiers fetch over the bus. */
export const Jwks = Type.Object(
  { keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 16 }) },
  { $id: 'Jwks', additionalProperties: false },
);
export type Jwks = Static<typeof Jwks>;

export const KeysRequest = Type.Object({}, { additionalProperties: false });
export type KeysRequest = Static<typeof KeysRequest>;
