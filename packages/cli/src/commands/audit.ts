import { parseArgs } from 'node:util';
import type { VerifyResult } from '@airlock/audit';
import { audienceHint } from './audience-hint.js';

export const auditUsage = `airlock audit tail [-n <count>] [--type <event type>] [--session <id>] [--principal <subject>] [--no-follow] [--json] [--interval <ms>]
       airlock audit verify [--partition <n>]`;

/** How the CLI reaches the audit API: AIRLOCK_AUDIT_URL and the caller's own token (--token or AIRLOCK_TOKEN). */
export interface AuditClient {
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  text(path: string): Promise<string>;
}

export function auditClient(env: Record<string, string | undefined>, token: string | undefined): AuditClient {
  const base = env['AIRLOCK_AUDIT_URL'] || 'http://127.0.0.1:8082';
  const bearer = token || env['AIRLOCK_TOKEN'];
  if (!bearer) throw new Error('the audit API needs your OIDC token, made for its audience (http://127.0.0.1:8082 in the demo): pass --token <token> or set AIRLOCK_TOKEN');
  const request = async (path: string, query: Record<string, string | number | undefined> = {}) => {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
    } catch {
      throw new Error(`the audit API at ${url.origin} is not reachable; is the audit service running (AIRLOCK_AUDIT_URL)?`);
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; details?: unknown };
      throw new Error(`${body.code ?? `HTTP ${res.status}`}: ${body.message ?? res.statusText}${audienceHint('the audit API', body)}`);
    }
    return res;
  };
  return {
    get: async <T>(path: string, query?: Record<string, string | number | undefined>) => (await (await request(path, query)).json()) as T,
    text: async (path: string) => (await request(path)).text(),
  };
}

interface ApiEvent {
  seq: number;
  subject: string;
  type: string;
  time: string;
  hash: string;
  payload: Record<string, unknown>;
}

/** One line per event: sequence, time, type, then what an operator scans for. Never a row value. */
export function describeEvent(e: ApiEvent): string {
  const p = e.payload;
  const s = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const principal = (p['principal'] as { subject?: string } | undefined)?.subject;
  const parts = [`#${e.seq}`, e.time, e.type];
  if (principal) parts.push(principal);
  if (s(p['connection'])) parts.push(`@${s(p['connection'])}`);
  if (s(p['sessionId'])) parts.push(`session=${s(p['sessionId'])}`);
  if (s(p['requestId'])) parts.push(`request=${s(p['requestId'])}`);
  switch (e.type) {
    case 'policy.v1.decided': {
      const d = p['decision'] as { outcome?: string; rule?: string | null } | undefined;
      parts.push(`${d?.outcome ?? '?'}${d?.rule ? ` (rule ${d.rule})` : ''}`, JSON.stringify(s(p['sql']) ?? ''));
      break;
    }
    case 'proxy.v1.query-completed':
      parts.push(`${s(p['command']) ?? ''} rows=${String(p['rows'])} bytes=${String(p['bytes'])} masked=${String(p['maskedCells'])} ${String(p['durationMs'])}ms`);
      break;
    case 'proxy.v1.query-failed':
      parts.push(`${s(p['sqlState']) ?? ''} ${s(p['code']) ?? ''}`);
      break;
    case 'identity.v1.token-refused':
      parts.push(s(p['code']) ?? '');
      break;
    case 'credential.v1.issued':
      parts.push(`lease=${String((p['lease'] as { leaseId?: string } | undefined)?.leaseId)}`);
      break;
    case 'credential.v1.revoked':
    case 'credential.v1.revoke-failed':
      parts.push(`lease=${s(p['leaseId']) ?? ''}${p['irrevocable'] === true ? ' IRREVOCABLE' : ''}`);
      break;
    case 'approval.v1.requested':
    case 'approval.v1.decided':
      parts.push(`approval=${s(p['approvalId']) ?? ''}${s(p['state']) ? ` ${s(p['state'])}` : ''}`);
      break;
  }
  return parts.join('  ');
}

/**
 * What `airlock audit verify` prints for a verification, and its exit code: 0 intact, 1 broken, 2 intact as far as it
 * could be checked but not against the event stream (a verification that could not read the stream does not pass as
 * whole).
 */
export function verifyReport(result: VerifyResult): { code: number; lines: string[] } {
  if (!result.ok) {
    const bad = result.firstBad!;
    const where = bad.partition !== undefined ? ` in partition ${bad.partition}` : '';
    return {
      code: 1,
      lines: [`audit chain broken at row ${bad.seq}${where} (${bad.problem}): ${bad.message}${bad.eventId ? ` [event ${bad.eventId}, ${bad.type}]` : ''}`, `${result.rows} rows verified before it`],
    };
  }
  const lines = [`audit chain intact: ${result.rows} rows verified (last row ${result.lastSeq})`];
  for (const p of result.partitions ?? []) lines.push(`partition ${p.partition}: ${p.rows} rows verified (last row ${p.lastSeq})`);
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const against = [plural(result.checkpoints ?? 0, 'signed checkpoint')];
  if (result.streamEvents !== undefined) against.push(`${plural(result.streamEvents, 'acknowledged event')} of the stream`);
  lines.push(`checked against ${against.join(' and ')}`);
  if (result.streamUnavailable === undefined) return { code: 0, lines };
  lines.push(`not checked against the event stream: ${result.streamUnavailable}`);
  return { code: 2, lines };
}

/**
 * `airlock audit tail|verify`. Returns the exit code: verify answers 1 when the chain is broken, 2 when it is intact but
 * could not be checked against the event stream.
 */
export async function auditCommand(
  args: string[],
  env: Record<string, string | undefined>,
  out: (line: string) => void,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      token: { type: 'string' },
      n: { type: 'string', short: 'n', default: '20' },
      type: { type: 'string' },
      session: { type: 'string' },
      principal: { type: 'string' },
      'no-follow': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      interval: { type: 'string', default: '1000' },
      partition: { type: 'string' },
    },
    strict: true,
  });
  switch (sub) {
    case 'verify': {
      const api = auditClient(env, values.token);
      if (values.partition !== undefined && !/^[1-9][0-9]*$/.test(values.partition)) throw new Error('--partition must be a partition number, 1 or more');
      const report = verifyReport(await api.get<VerifyResult>('/v1/verify', { partition: values.partition }));
      for (const line of report.lines) out(line);
      return report.code;
    }
    case 'tail': {
      const api = auditClient(env, values.token);
      const count = Number(values.n);
      const interval = Number(values.interval);
      if (!Number.isInteger(count) || count < 1) throw new Error('-n must be a whole number of events, at least 1');
      if (!Number.isInteger(interval) || interval < 50) throw new Error('--interval must be at least 50 (milliseconds)');
      const filter = { type: values.type, sessionId: values.session, principal: values.principal };
      const print = (events: ApiEvent[]) => {
        for (const e of events) out(values.json ? JSON.stringify(e) : describeEvent(e));
        return events.at(-1)?.seq;
      };
      let last = print((await api.get<{ events: ApiEvent[] }>('/v1/events', { ...filter, tail: count })).events) ?? 0;
      if (last === 0) {
        // nothing matched yet: follow from the current end of the chain, not from its start
        last = (await api.get<{ events: ApiEvent[] }>('/v1/events', { tail: 1 })).events.at(-1)?.seq ?? 0;
      }
      while (!values['no-follow'] && !options.signal?.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, interval);
          options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
        if (options.signal?.aborted) break;
        const page = (await api.get<{ events: ApiEvent[] }>('/v1/events', { ...filter, afterSeq: last, limit: 1000 })).events;
        last = print(page) ?? last;
      }
      return 0;
    }
    default:
      throw new Error(`usage: ${auditUsage}`);
  }
}
