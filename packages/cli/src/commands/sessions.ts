import { parseArgs } from 'node:util';
import { formatTranscript, type SessionDetail, type SessionSummary } from '@airlock/audit';
import { auditClient } from './audit.js';

export const sessionsUsage = `airlock sessions list [--principal <subject>] [--connection <name>] [--table <[schema.]table>] [--decision allow|deny|approval-required] [--outcome completed|failed] [--from <time>] [--to <time>] [--limit <n>] [--json]
       airlock sessions show <id>          the session and its statements as JSON
       airlock sessions replay <id>        the session as a timed transcript with the recorded (masked) results`;

/** `airlock sessions list|show|replay`, read from the audit API with the caller's own token. Returns the exit code. */
export async function sessionsCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      token: { type: 'string' },
      principal: { type: 'string' },
      connection: { type: 'string' },
      table: { type: 'string' },
      decision: { type: 'string' },
      outcome: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  switch (sub) {
    case 'list': {
      const api = auditClient(env, values.token);
      const { sessions } = await api.get<{ sessions: SessionSummary[] }>('/v1/sessions', {
        principal: values.principal,
        connection: values.connection,
        table: values.table,
        decision: values.decision,
        outcome: values.outcome,
        from: values.from,
        to: values.to,
        limit: values.limit,
      });
      for (const s of sessions) {
        if (values.json) {
          out(JSON.stringify(s));
          continue;
        }
        const state = s.closedAt ? `closed (${s.closeReason ?? '?'})` : 'open';
        const counts = `${s.statements} statements: ${s.completed} completed, ${s.failed} failed, ${s.denied} denied, ${s.maskedCells} masked cells`;
        out(`${s.sessionId}  ${s.openedAt}  ${s.principal.subject}@${s.connection}  ${s.frontend}  ${counts}  ${state}${s.tables.length ? `  tables ${s.tables.join(',')}` : ''}`);
      }
      if (!values.json) out(`${sessions.length} session${sessions.length === 1 ? '' : 's'}`);
      return 0;
    }
    case 'show':
    case 'replay': {
      const id = positionals[0];
      if (!id) throw new Error(`usage: ${sessionsUsage}`);
      const api = auditClient(env, values.token);
      const session = await api.get<SessionDetail>(`/v1/sessions/${encodeURIComponent(id)}`);
      if (sub === 'show') {
        out(JSON.stringify(session, null, 2));
        return 0;
      }
      for (const line of formatTranscript(session).trimEnd().split('\n')) out(line);
      return 0;
    }
    default:
      throw new Error(`usage: ${sessionsUsage}`);
  }
}
