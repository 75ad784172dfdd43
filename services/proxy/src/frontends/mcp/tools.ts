import type { Static, TSchema } from '@sinclair/typebox';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { approvalV1, Principal } from '@airlock/contracts';
import { AirlockError, Validator } from '@airlock/runtime';
import type { Session } from '../../core/session.js';
import type { FrontDoor } from '../http/server.js';
import { approvalIdOf, refusal, ruleOf, structured } from './results.js';
import {
  ApprovalStatusInput,
  ApprovalStatusOutput,
  DescribeTableInput,
  DescribeTableOutput,
  ListConnectionsOutput,
  ListTablesInput,
  ListTablesOutput,
  NoInput,
  QueryInput,
  QueryOutput,
  RequestAccessInput,
  RequestAccessOutput,
  type PendingApproval,
} from './schemas.js';
import { defaultQueryRows, type McpSettings } from './settings.js';

/** Who calls, as the bearer token of this one HTTP request says. */
export interface Caller {
  principal: Principal;
  /** the client address, for the audit log */
  client: string | undefined;
}

/** What every tool works with: the proxy's gateway and the endpoint's settings. */
export interface ToolEnv {
  door: FrontDoor;
  settings: McpSettings;
  validator: Validator;
}

interface ToolDef<I extends TSchema = TSchema> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: TSchema;
  readOnly: boolean;
  /** called with arguments already checked against `input` */
  run(env: ToolEnv, caller: Caller, args: Static<I>): Promise<CallToolResult>;
}

/** Keeps each tool's argument type while the list holds them all. */
const defineTool = <I extends TSchema>(def: ToolDef<I>): ToolDef => def as unknown as ToolDef;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Runs `fn` in a session of its own: the audit log shows one session per tool call, and its leases end with it. */
async function inSession<T>(env: ToolEnv, caller: Caller, connection: string, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = env.door.gateway.openSession(caller.principal, connection, 'mcp', caller.client);
  try {
    return await fn(session);
  } finally {
    await session.close('mcp-call-complete');
  }
}

const listConnections = defineTool({
  name: 'list_connections',
  title: 'List connections',
  description:
    'Lists the databases (Airlock connections) you may use, with the policy rules that let you run statements on each: which statement kinds, on which tables, and whether they need an approver.',
  input: NoInput,
  output: ListConnectionsOutput,
  readOnly: true,
  run: async (env, caller) => {
    // policy matches its rules for the caller: the list says exactly what its decisions will
    const access = await env.door.gateway.explainAccess(caller.principal);
    const connections = access.connections.filter((c) => c.rules.length > 0);
    const out: ListConnectionsOutput = { connections };
    const summary =
      connections.length === 0
        ? 'No connection is open to your groups; ask an operator for access.'
        : `You may use ${connections.length === 1 ? 'one connection' : `${connections.length} connections`}: ${connections.map((c) => `${c.name} (${c.type})`).join(', ')}.`;
    return structured(out, summary);
  },
});

const listTables = defineTool({
  name: 'list_tables',
  title: 'List tables',
  description: 'Lists the tables of a connection that you may read (policy decides SELECT on each for you).',
  input: ListTablesInput,
  output: ListTablesOutput,
  readOnly: true,
  run: async (env, caller, args) =>
    inSession(env, caller, args.connection, async (session) => {
      const { tables } = await env.door.gateway.catalog(args.connection);
      const listed: ListTablesOutput['tables'] = [];
      // policy is the one judge of access: each table is decided as the statement an agent would send
      const batch = 8;
      for (let i = 0; i < tables.length; i += batch) {
        const slice = tables.slice(i, i + batch);
        const decisions = await Promise.all(slice.map((t) => env.door.gateway.explain(session, `SELECT * FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)}`)));
        slice.forEach((t, j) => {
          const outcome = decisions[j]!.outcome;
          if (outcome !== 'deny') listed.push({ schema: t.schema, table: t.table, access: outcome === 'allow' ? 'read' : 'approval' });
        });
      }
      listed.sort((a, b) => a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table));
      const summary =
        listed.length === 0
          ? `You may read no table on ${args.connection}.`
          : `You may read ${listed.length} table${listed.length === 1 ? '' : 's'} on ${args.connection}: ${listed.map((t) => `${t.schema}.${t.table}${t.access === 'approval' ? ' (with approval)' : ''}`).join(', ')}.`;
      return structured({ connection: args.connection, tables: listed }, summary);
    }),
});

function describeMask(action: DescribeTableOutput['columns'][number]['mask']): string {
  switch (action?.kind) {
    case undefined:
      return 'clear';
    case 'email':
      return 'masked: the local part is hidden, the domain shown';
    case 'partial':
      return `masked: all but the last ${action.keep} characters hidden`;
    case 'redact':
      return 'masked: replaced by [REDACTED]';
    case 'null':
      return 'masked: NULL';
    case 'hash':
      return 'masked: a keyed hash (equal values give equal hashes)';
  }
}

const describeTable = defineTool({
  name: 'describe_table',
  title: 'Describe a table',
  description:
    'Lists the columns of a table and, for you, which of them come back masked and how. Masked columns may be selected but not used to filter, join, group or order.',
  input: DescribeTableInput,
  output: DescribeTableOutput,
  readOnly: true,
  run: async (env, caller, args) =>
    inSession(env, caller, args.connection, async (session) => {
      const cat = await env.door.gateway.catalog(args.connection);
      const dot = args.table.lastIndexOf('.');
      const schema = dot < 0 ? undefined : args.table.slice(0, dot);
      const name = dot < 0 ? args.table : args.table.slice(dot + 1);
      const candidates = cat.tables.filter((t) => t.table === name && (schema === undefined || t.schema === schema));
      // an unqualified name resolves as the database would: the first schema of the search path that has it
      const table = schema !== undefined ? candidates[0] : cat.searchPath.map((s) => candidates.find((t) => t.schema === s)).find(Boolean);
      if (!table) {
        throw new AirlockError('proxy.unknown_table', `connection "${args.connection}" has no table "${args.table}"`);
      }
      const decision = await env.door.gateway.permitted(session, `SELECT * FROM ${quoteIdent(table.schema)}.${quoteIdent(table.table)}`);
      const plan = decision.masking;
      const columns = table.columns.map((column, index) => {
        const c = plan.columns.find((x) => x.index === index);
        const mask = c ? c.action : plan.maskUnlisted ? ({ kind: 'redact' } as const) : null;
        return { name: column, masked: mask !== null, mask, reason: mask ? (c?.reason ?? 'the result shape is unknown, so every column is redacted') : null };
      });
      const out: DescribeTableOutput = {
        connection: args.connection,
        schema: table.schema,
        table: table.table,
        columns,
        detectors: [...plan.detectors],
        inference: env.settings.inference,
      };
      const lines = [`${table.schema}.${table.table} on ${args.connection}:`, ...columns.map((c) => `- ${c.name}: ${describeMask(c.mask)}`)];
      return structured(out, lines.join('\n'));
    }),
});

async function pending(env: ToolEnv, err: AirlockError): Promise<PendingApproval | undefined> {
  const approvalId = approvalIdOf(err);
  if (!approvalId) return undefined;
  const status = await env.door.gateway.approvalStatus(approvalId).catch(() => undefined);
  return {
    approvalId,
    state: status?.state ?? 'pending',
    expiresAt: status?.expiresAt ?? null,
    rule: ruleOf(err),
    next: `call approval_status with approvalId ${approvalId}; once it is granted, send the same statement again with query`,
  };
}

const query = defineTool({
  name: 'query',
  title: 'Run a SQL statement',
  description:
    'Runs one SQL statement on a connection under a short-lived credential and returns the rows, masked where policy says so. ' +
    'A statement that needs approval is not run: the result says "pending" with the approval request id. ' +
    'Only the first maxRows rows are returned; "truncated" says when there were more.',
  input: QueryInput,
  output: QueryOutput,
  readOnly: false,
  run: async (env, caller, args) => {
    const cap = env.settings.maxRows;
    const limit = Math.min(args.maxRows ?? Math.min(defaultQueryRows, cap), cap);
    const capped = args.maxRows !== undefined && args.maxRows > cap;
    return inSession(env, caller, args.connection, async (session) => {
      let statement;
      try {
        // answer "pending" at once rather than hold the HTTP request: the agent follows the request with approval_status
        statement = await session.open(args.sql, [], { holdMs: 0, ...(args.justification ? { justification: args.justification } : {}) });
      } catch (err) {
        if (err instanceof AirlockError && (err.code === 'approval.required' || err.code === 'approval.pending')) {
          const approval = await pending(env, err);
          if (approval) {
            const out: QueryOutput = { status: 'pending', columns: [], rows: [], rowCount: 0, truncated: false, command: null, approval };
            return structured(out, `${err.message}\nThe statement did not run. approval id: ${approval.approvalId}\nnext: ${approval.next}`);
          }
        }
        throw err;
      }
      const rows: Array<Array<string | null>> = [];
      let tag: string | undefined;
      let done = false;
      try {
        while (!done && rows.length <= limit) {
          const batch = await statement.read(Math.min(1000, limit + 1 - rows.length));
          rows.push(...batch.rows);
          done = batch.done;
          tag = batch.tag;
        }
      } finally {
        // stopped at the limit: the rest of the result is never fetched
        if (!done) await statement.close();
      }
      const truncated = rows.length > limit;
      if (truncated) rows.length = limit;
      const out: QueryOutput = {
        status: 'completed',
        columns: statement.columns?.map((c) => c.name) ?? [],
        rows,
        rowCount: rows.length,
        truncated,
        command: done ? (tag ?? null) : null,
        approval: null,
      };
      let summary = statement.columns ? `${rows.length} row${rows.length === 1 ? '' : 's'} from ${args.connection}.` : `${tag ?? 'done'} on ${args.connection}.`;
      if (truncated) {
        summary += ` The result has more rows: only the first ${limit} are returned; add a LIMIT or a filter${limit < cap ? `, or ask for up to ${cap} with maxRows` : ''}.`;
      }
      if (capped) summary += ` maxRows is capped at ${cap}.`;
      return structured(out, summary);
    });
  },
});

const howToApprove = (id: string, groups: readonly string[], quorum: number) =>
  `a member of ${groups.join(' or ')} must approve it${quorum > 1 ? ` (${quorum} approvers)` : ''}: \`npx airlock approvals approve ${id}\`, ` +
  `with \`--for 1h\` for a time window; call approval_status to follow it, and once it is granted send the statement with query`;

const requestAccess = defineTool({
  name: 'request_access',
  title: 'Request access for a statement',
  description:
    'Asks the approvers named by policy to let you run a statement, with your justification; an approver may grant it once or for a time window. ' +
    'Returns the approval request id, who must approve, and how to follow it.',
  input: RequestAccessInput,
  output: RequestAccessOutput,
  readOnly: false,
  run: async (env, caller, args) =>
    inSession(env, caller, args.connection, async (session) => {
      const access = await env.door.gateway.requestAccess(session, args.sql, args.justification);
      if (access.state === 'not_required') {
        const out: RequestAccessOutput = {
          state: 'not_required',
          approvalId: null,
          connection: args.connection,
          rule: access.rule,
          approverGroups: [],
          quorum: 0,
          expiresAt: null,
          next: 'policy lets you run this statement now: send it with query',
        };
        return structured(out, `No approval is needed${access.rule ? ` (rule "${access.rule}")` : ''}: send the statement with query.`);
      }
      const next = howToApprove(access.approvalId, access.approverGroups, access.quorum);
      const out: RequestAccessOutput = {
        state: access.state,
        approvalId: access.approvalId,
        connection: args.connection,
        rule: access.rule,
        approverGroups: access.approverGroups,
        quorum: access.quorum,
        expiresAt: access.expiresAt,
        next,
      };
      return structured(out, `Approval request ${access.approvalId} is ${access.state} (rule "${access.rule}"), expires ${access.expiresAt}: ${next}.`);
    }),
});

const statusNext: Record<approvalV1.ApprovalState, string> = {
  pending: 'wait for an approver, then call approval_status again',
  granted: 'send the statement with query: it runs now',
  denied: 'an approver denied it; change the statement, or call request_access with a better justification',
  expired: 'nobody decided in time; call request_access again',
  cancelled: 'the request was cancelled; call request_access again if you still need it',
};

const approvalStatus = defineTool({
  name: 'approval_status',
  title: 'Approval status',
  description: 'The state of an approval request that request_access or query returned: pending, granted, denied, expired or cancelled.',
  input: ApprovalStatusInput,
  output: ApprovalStatusOutput,
  readOnly: true,
  run: async (env, caller, args) => {
    // answered only to the requester and the approvers: to anyone else the request does not exist
    const s = await env.door.gateway.approvalStatus(args.approvalId, caller.principal);
    const out = {
      approvalId: s.approvalId,
      state: s.state,
      expiresAt: s.expiresAt,
      approvals: s.approvals,
      quorum: s.quorum,
      reason: s.reason ?? null,
      next: statusNext[s.state],
    };
    return structured(out, `Approval request ${s.approvalId} is ${s.state} (${s.approvals} of ${s.quorum} approvals)${s.reason ? `: ${s.reason}` : ''}; ${out.next}.`);
  },
});

export const tools: readonly ToolDef[] = [listConnections, listTables, describeTable, query, requestAccess, approvalStatus];

/** A TypeBox schema as plain JSON Schema for tools/list: without the `$id`s that would clash in a client's validator. */
function jsonSchema(schema: TSchema): Tool['inputSchema'] {
  return JSON.parse(JSON.stringify(schema), (key, value) => (key === '$id' ? undefined : value)) as Tool['inputSchema'];
}

/** What tools/list answers. */
export function listedTools(): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: jsonSchema(t.input),
    outputSchema: jsonSchema(t.output),
    annotations: { title: t.title, readOnlyHint: t.readOnly, openWorldHint: false },
  }));
}

/** Runs one tool call; every refusal or failure is a tool result the agent can act on, never a protocol error. */
export async function callTool(env: ToolEnv, caller: Caller, tool: ToolDef, args: unknown): Promise<CallToolResult> {
  try {
    env.validator.assert(tool.input, args, `the input of ${tool.name}`);
    return await tool.run(env, caller, args);
  } catch (err) {
    if (!(err instanceof AirlockError)) {
      env.door.logger.error({ tool: tool.name, err: err instanceof Error ? err.message : String(err) }, 'MCP tool failed');
    }
    return refusal(err);
  }
}

export function findTool(name: string): ToolDef | undefined {
  return tools.find((t) => t.name === name);
}
