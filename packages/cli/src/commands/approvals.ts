import { parseArgs } from 'node:util';
import type { approvalV1 } from '@airlock/contracts';
import { audienceHint } from './audience-hint.js';

export const approvalsUsage = `airlock approvals list [--state pending|granted|denied|expired|cancelled|all]
  airlock approvals show <id>
  airlock approvals approve <id> [--for 1h|30m|<seconds>] [--reason <text>]
  airlock approvals deny <id> --reason <text>
Your own token, made for the approval API's audience (http://127.0.0.1:8081 in the demo), comes from --token or AIRLOCK_TOKEN; the API from --url or AIRLOCK_APPROVAL_URL (default http://127.0.0.1:8081).`;

/** Exit codes: 0 done, 1 refused by the approval service, 2 usage error, 3 the service could not be reached or failed. */
export const approvalsExit = { ok: 0, refused: 1, usage: 2, unavailable: 3 } as const;

interface Reply {
  status: number;
  body: unknown;
}

function isEnvelope(b: unknown): b is { code: string; message: string; details?: unknown } {
  return typeof b === 'object' && b !== null && typeof (b as { code?: unknown }).code === 'string' && typeof (b as { message?: unknown }).message === 'string';
}

function line(a: approvalV1.ApprovalView): string {
  const sql = a.sql.replace(/\s+/g, ' ');
  return [
    a.approvalId,
    a.state.padEnd(8),
    `${a.approvals}/${a.quorum}`,
    a.requester.subject,
    a.connection,
    a.kind,
    a.tables.join(',') || '-',
    `expires ${a.expiresAt}`,
    sql.length > 80 ? `${sql.slice(0, 79)}…` : sql,
  ].join('  ');
}

function details(a: approvalV1.ApprovalView): string[] {
  return [
    `approval   ${a.approvalId}`,
    `state      ${a.state}${a.reason ? ` (${a.reason})` : ''}${a.windowSeconds ? `, time window ${a.windowSeconds} s` : ''}`,
    `requester  ${a.requester.subject}${a.requester.email ? ` <${a.requester.email}>` : ''} (${a.requester.issuer})`,
    `connection ${a.connection}`,
    `statement  ${a.kind} on ${a.tables.join(', ') || '(no tables)'}`,
    `sql        ${a.sql}`,
    // the values a one-shot grant is bound to: other values are held again
    ...(a.params && a.params.length > 0 ? [`parameters ${a.params.map((p, i) => `$${i + 1} = ${p === null ? 'NULL' : JSON.stringify(p)}`).join(', ')}`] : []),
    `rule       ${a.rule ?? '(default)'}`,
    `why        ${a.justification ?? '(no justification given)'}`,
    `approvers  ${a.approverGroups.join(', ')}, ${a.approvals} of ${a.quorum} approvals`,
    ...a.votes.map((v) => `vote       ${v.decision} by ${v.approver.subject} at ${v.at}${v.reason ? `: ${v.reason}` : ''}`),
    `expires    ${a.expiresAt}`,
  ];
}

/** `airlock approvals …`: lists and decides approval requests through the approval service's HTTP API, as the caller. */
export async function approvalsCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        state: { type: 'string' },
        for: { type: 'string' },
        reason: { type: 'string' },
        token: { type: 'string' },
        url: { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    out(`${err instanceof Error ? err.message : String(err)}\nusage: ${approvalsUsage}`);
    return approvalsExit.usage;
  }
  const { values, positionals } = parsed;
  const [action, id, ...extra] = positionals;
  const usage = (message: string) => {
    out(`${message}\nusage: ${approvalsUsage}`);
    return approvalsExit.usage;
  };
  if (!action || !['list', 'show', 'approve', 'deny'].includes(action)) return usage(action ? `unknown approvals command "${action}"` : 'an approvals command is required');
  if (action === 'list' ? id !== undefined : id === undefined || extra.length > 0) {
    return usage(action === 'list' ? '"approvals list" takes no id' : `"approvals ${action}" takes exactly one approval id`);
  }
  if (action === 'deny' && !values.reason?.trim()) return usage('a denial needs --reason "<why>": the requester and the agent are told');
  if (action !== 'approve' && values.for !== undefined) return usage('--for only applies to "approvals approve"');
  const token = values.token ?? env['AIRLOCK_TOKEN'];
  if (!token) return usage('your own token is required: --token <jwt> or AIRLOCK_TOKEN (mint a dev one with "airlock token")');
  const base = (values.url ?? env['AIRLOCK_APPROVAL_URL'] ?? 'http://127.0.0.1:8081').replace(/\/+$/, '');

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(text);
    } catch {
      parsedBody = undefined;
    }
    return { status: res.status, body: parsedBody };
  };

  let reply: Reply;
  try {
    const path = id === undefined ? '' : `/${encodeURIComponent(id)}`;
    switch (action) {
      case 'list': {
        const state = values.state ?? 'pending';
        reply = await call('GET', `/v1/approvals?state=${encodeURIComponent(state)}`);
        break;
      }
      case 'show':
        reply = await call('GET', `/v1/approvals${path}`);
        break;
      case 'approve': {
        const seconds = values.for !== undefined && /^\d+$/.test(values.for) ? Number(values.for) : values.for;
        reply = await call('POST', `/v1/approvals${path}/approve`, {
          ...(seconds !== undefined ? { for: seconds } : {}),
          ...(values.reason !== undefined ? { reason: values.reason } : {}),
        });
        break;
      }
      default:
        reply = await call('POST', `/v1/approvals${path}/deny`, { reason: values.reason });
    }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.name : 'error');
    out(`the approval service at ${base} could not be reached (${cause}); is it running? (set AIRLOCK_APPROVAL_URL)`);
    return approvalsExit.unavailable;
  }

  if (reply.status >= 400 || !reply.body) {
    const envelope = isEnvelope(reply.body) ? reply.body : { code: `http.${reply.status}`, message: 'the approval service answered without a body' };
    out(`refused: ${envelope.message} [${envelope.code}]${audienceHint('the approval API', envelope)}`);
    return reply.status >= 500 || !isEnvelope(reply.body) ? approvalsExit.unavailable : approvalsExit.refused;
  }

  switch (action) {
    case 'list': {
      const { approvals } = reply.body as approvalV1.ApprovalList;
      if (approvals.length === 0) out(`no ${values.state === 'all' ? '' : `${values.state ?? 'pending'} `}approval requests you may decide or made yourself`);
      for (const a of approvals) out(line(a));
      return approvalsExit.ok;
    }
    case 'show':
      for (const l of details(reply.body as approvalV1.ApprovalView)) out(l);
      return approvalsExit.ok;
    default: {
      const { approval: a, vote } = reply.body as approvalV1.DecisionReply;
      if (vote === 'already_recorded') {
        out(`your vote on ${a.approvalId} was already recorded and does not count twice: ${a.state}, ${a.approvals} of ${a.quorum} approvals`);
      } else if (a.state === 'granted') {
        out(
          a.windowSeconds
            ? `granted ${a.approvalId}: ${a.requester.subject} may run ${a.kind} on ${a.tables.join(', ')} (${a.connection}) for ${a.windowSeconds} s`
            : `granted ${a.approvalId}: ${a.requester.subject} may run this exact statement once`,
        );
      } else if (a.state === 'denied') {
        out(`denied ${a.approvalId}: ${a.reason ?? ''}`);
      } else {
        out(`vote recorded on ${a.approvalId}: ${a.approvals} of ${a.quorum} approvals, still ${a.state}`);
      }
      return approvalsExit.ok;
    }
  }
}
