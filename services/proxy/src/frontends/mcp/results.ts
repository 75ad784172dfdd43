import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorCode } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import { classify } from '../../core/errors.js';

/** A successful tool result: structured content plus its JSON as text, for clients that read text only. */
export function structured(value: Record<string, unknown>, summary: string): CallToolResult {
  return {
    content: [
      { type: 'text', text: summary },
      { type: 'text', text: JSON.stringify(value) },
    ],
    structuredContent: value,
  };
}

/** What an agent can do next after each refusal; the message says why, this says how to go on. */
const nextSteps: Partial<Record<ErrorCode, string>> = {
  'policy.denied': 'this statement is refused by policy whatever you do; change it, or ask an operator for access',
  'policy.no_rule': 'no policy lets your groups run this; call list_tables to see what you may read, or ask an operator for access',
  'policy.inference_on_masked_column':
    'do not filter, join, group or order on masked columns (describe_table lists them); select them, or filter on an unmasked column',
  'policy.masked_column_copied': 'a masked column may not be copied into a table; leave it out of the statement',
  'policy.result_shape_unknown': 'name the columns you want instead of a construct whose result Airlock cannot analyse',
  'policy.parse_error': 'fix the SQL: Airlock parses every statement before it runs',
  'policy.multiple_statements': 'send one statement per call',
  'policy.forbidden_function': 'leave the function or operator out: it is not on the allow-list (an operator can allow it with guardrails.allowFunctions)',
  'policy.forbidden_command': 'this statement or setting never runs through Airlock; send the query itself',
  'policy.forbidden_relation': 'query the tables themselves: statistics, other sessions and large objects are never readable through Airlock',
  'policy.unknown_relation': 'call list_tables for the tables Airlock knows; temporary tables are never readable',
  'policy.statement_too_large': 'send a smaller statement, or split it',
  'policy.unknown_connection': 'call list_connections for the connections you may use',
  'proxy.unknown_table': 'call list_tables for the tables you may read',
  'approval.denied': 'an approver denied it; change the statement, or call request_access with a better justification',
  'approval.expired': 'the approval expired; call request_access again',
  'approval.not_found': 'use an approval id that request_access or query returned',
  'proxy.row_limit': 'add a LIMIT or a narrower filter',
  'proxy.statement_timeout': 'narrow the statement (filter, LIMIT) so it finishes in time',
  'proxy.upstream_error': 'the database refused the statement; fix it and send it again',
  'proxy.transaction_not_allowed': 'each query call runs on its own: send one statement without BEGIN/COMMIT',
  'identity.forbidden': 'your token does not allow this',
  'runtime.unavailable': 'a part of Airlock is not answering; retry in a few seconds',
  'runtime.timeout': 'Airlock did not answer in time; retry in a few seconds',
  'proxy.upstream_unavailable': 'retry in a few seconds',
};

/** The rule an error names: the structured detail when present, else the `(rule "…")` that every refusal message carries. */
export function ruleOf(err: AirlockError): string | null {
  const detail = err.details?.['rule'];
  if (typeof detail === 'string') return detail;
  return /\(rule "([^"]+)"\)/.exec(err.message)?.[1] ?? null;
}

/** The approval request a held statement created: the structured detail when present, else the id in the message. */
export function approvalIdOf(err: AirlockError): string | null {
  const detail = err.details?.['approvalId'];
  if (typeof detail === 'string') return detail;
  return /\brequest ([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\b/i.exec(err.message)?.[1] ?? null;
}

/**
 * A refusal or failure as a tool result (`isError: true`): the code, the rule, the reason in Airlock's words, and
 * what to do next. Never a value from the statement or the data: messages are built that way at their source.
 */
export function refusal(err: unknown): CallToolResult {
  const e = err instanceof AirlockError ? err : undefined;
  const c = e ? { code: e.code, message: e.message } : classify(err);
  const rule = e ? ruleOf(e) : null;
  const requestId = typeof e?.details?.['requestId'] === 'string' ? (e.details['requestId'] as string) : null;
  const lines = [c.message, `code: ${c.code}`];
  if (rule) lines.push(`rule: ${rule}`);
  const next = nextSteps[c.code];
  if (next) lines.push(`next: ${next}`);
  if (requestId) lines.push(`request id: ${requestId}`);
  return { content: [{ type: 'text', text: lines.join('\n') }], isError: true };
}
