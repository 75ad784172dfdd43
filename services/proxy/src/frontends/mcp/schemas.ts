import { Type, type Static } from '@sinclair/typebox';
import { approvalV1, MaskAction } from '@airlock/contracts';

// The input and output schemas of the MCP tools. Tools/list publishes them as JSON Schema; the MCP SDK client
// validates `structuredContent` against the output schema, so each must describe exactly what the tool returns.

const Connection = Type.String({ minLength: 1, description: 'an Airlock connection name, as list_connections returns it' });
const Sql = Type.String({ minLength: 1, maxLength: 100_000, description: 'one SQL statement in the dialect of the connection' });

export const NoInput = Type.Object({}, { additionalProperties: false });

export const ListConnectionsOutput = Type.Object(
  {
    connections: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          type: Type.Union([Type.Literal('postgres'), Type.Literal('snowflake')]),
          /** the policy rules that let the caller run statements on this connection */
          rules: Type.Array(
            Type.Object(
              {
                rule: Type.String(),
                decision: Type.Union([Type.Literal('allow'), Type.Literal('approval')]),
                kinds: Type.Array(Type.String(), { description: 'statement kinds: select, insert, update, delete, …' }),
                tables: Type.Array(Type.String(), { description: 'table patterns; ["*"] for any table' }),
                approvers: Type.Array(Type.String(), { description: 'groups that approve, for an approval rule' }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ListConnectionsOutput = Static<typeof ListConnectionsOutput>;

export const ListTablesInput = Type.Object({ connection: Connection }, { additionalProperties: false });
export type ListTablesInput = Static<typeof ListTablesInput>;

export const ListTablesOutput = Type.Object(
  {
    connection: Type.String(),
    tables: Type.Array(
      Type.Object(
        {
          schema: Type.String(),
          table: Type.String(),
          /** `read`: SELECT runs at once; `approval`: SELECT waits for an approver */
          access: Type.Union([Type.Literal('read'), Type.Literal('approval')]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ListTablesOutput = Static<typeof ListTablesOutput>;

export const DescribeTableInput = Type.Object(
  { connection: Connection, table: Type.String({ minLength: 1, description: 'table or schema.table' }) },
  { additionalProperties: false },
);
export type DescribeTableInput = Static<typeof DescribeTableInput>;

export const DescribeTableOutput = Type.Object(
  {
    connection: Type.String(),
    schema: Type.String(),
    table: Type.String(),
    columns: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          masked: Type.Boolean(),
          /** how the value is masked for the caller; null when it comes back in clear */
          mask: Type.Union([MaskAction, Type.Null()]),
          /** the masking rule and source column that mask it */
          reason: Type.Union([Type.String(), Type.Null()]),
        },
        { additionalProperties: false },
      ),
    ),
    /** content detectors that scan the text values of unmasked columns (a card number in free text is masked too) */
    detectors: Type.Array(Type.String()),
    /** masked columns may appear in the select list only: filtering, joining, grouping or ordering on them is refused */
    inference: Type.Union([Type.Literal('deny'), Type.Literal('approval')]),
  },
  { additionalProperties: false },
);
export type DescribeTableOutput = Static<typeof DescribeTableOutput>;

export const QueryInput = Type.Object(
  {
    connection: Connection,
    sql: Sql,
    maxRows: Type.Optional(Type.Integer({ minimum: 1, description: 'the most rows to return (default 100, capped by the operator)' })),
    justification: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2000, description: 'why the statement must run, shown to approvers when policy holds it for approval' }),
    ),
  },
  { additionalProperties: false },
);
export type QueryInput = Static<typeof QueryInput>;

export const PendingApproval = Type.Object(
  {
    approvalId: Type.String(),
    state: approvalV1.ApprovalState,
    expiresAt: Type.Union([Type.String(), Type.Null()]),
    rule: Type.Union([Type.String(), Type.Null()]),
    /** what to do while it is pending */
    next: Type.String(),
  },
  { additionalProperties: false },
);
export type PendingApproval = Static<typeof PendingApproval>;

export const QueryOutput = Type.Object(
  {
    /** `completed`: the statement ran; `pending`: it waits for an approver and did not run */
    status: Type.Union([Type.Literal('completed'), Type.Literal('pending')]),
    columns: Type.Array(Type.String()),
    /** every value as text (masked where policy says so), null for SQL NULL */
    rows: Type.Array(Type.Array(Type.Union([Type.String(), Type.Null()]))),
    rowCount: Type.Integer({ minimum: 0 }),
    /** true when the result had more rows than were returned */
    truncated: Type.Boolean(),
    /** the command tag, e.g. `SELECT 5`, `DELETE 1` */
    command: Type.Union([Type.String(), Type.Null()]),
    approval: Type.Union([PendingApproval, Type.Null()]),
  },
  { additionalProperties: false },
);
export type QueryOutput = Static<typeof QueryOutput>;

export const RequestAccessInput = Type.Object(
  {
    connection: Connection,
    sql: Sql,
    justification: Type.String({ minLength: 1, maxLength: 2000, description: 'why the statement must run: shown to the approvers' }),
  },
  { additionalProperties: false },
);
export type RequestAccessInput = Static<typeof RequestAccessInput>;

export const RequestAccessOutput = Type.Object(
  {
    /** `not_required`: policy lets the statement run without approval */
    state: Type.Union([approvalV1.ApprovalState, Type.Literal('not_required')]),
    approvalId: Type.Union([Type.String(), Type.Null()]),
    connection: Type.String(),
    rule: Type.Union([Type.String(), Type.Null()]),
    approverGroups: Type.Array(Type.String()),
    quorum: Type.Integer({ minimum: 0 }),
    expiresAt: Type.Union([Type.String(), Type.Null()]),
    next: Type.String(),
  },
  { additionalProperties: false },
);
export type RequestAccessOutput = Static<typeof RequestAccessOutput>;

export const ApprovalStatusInput = Type.Object(
  { approvalId: Type.String({ minLength: 1, description: 'the id request_access or query returned' }) },
  { additionalProperties: false },
);
export type ApprovalStatusInput = Static<typeof ApprovalStatusInput>;

export const ApprovalStatusOutput = Type.Object(
  {
    approvalId: Type.String(),
    state: approvalV1.ApprovalState,
    expiresAt: Type.String(),
    approvals: Type.Integer({ minimum: 0 }),
    quorum: Type.Integer({ minimum: 1 }),
    reason: Type.Union([Type.String(), Type.Null()]),
    next: Type.String(),
  },
  { additionalProperties: false },
);
export type ApprovalStatusOutput = Static<typeof ApprovalStatusOutput>;
