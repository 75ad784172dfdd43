import { ErrorCodes } from '@airlock/contracts';
import type { ClientError, UpstreamErrorMapper } from '../engine.js';

/** A PostgreSQL server error, as node-postgres raises it: its SQLSTATE, message and hint. */
export interface UpstreamError {
  sqlState: string;
  message: string;
  hint?: string;
}

export function upstreamErrorOf(err: unknown): UpstreamError | undefined {
  const e = err as { code?: unknown; message?: unknown; hint?: unknown; severity?: unknown };
  if (typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.message === 'string') {
    // the server's detail can quote row values (a unique violation names the key): it is dropped on purpose
    return { sqlState: e.code, message: e.message, ...(typeof e.hint === 'string' ? { hint: e.hint } : {}) };
  }
  return undefined;
}

/** The socket and node-postgres messages of a connection that went away (refused, reset, terminated, timed out). */
const connectionLost = /ECONNREFUSED|ECONNRESET|terminat|Connection terminated|timeout expired/i;

/** PostgreSQL failures: server errors by SQLSTATE (a statement timeout named as such), and a lost connection. */
export const postgresErrors: UpstreamErrorMapper = (err, limits): ClientError | undefined => {
  const upstream = upstreamErrorOf(err);
  if (upstream) {
    // 57014 is also a cancel on request: only the server's statement_timeout is the proxy's time limit
    if (upstream.sqlState === '57014' && /statement timeout/.test(upstream.message)) {
      return {
        code: 'proxy.statement_timeout',
        sqlState: '57014',
        message: `the statement ran longer than the limit of ${limits?.timeoutMs ?? '?'} ms and was cancelled; narrow it or ask for a higher limit`,
      };
    }
    return { code: 'proxy.upstream_error', sqlState: upstream.sqlState, message: upstream.message, ...(upstream.hint ? { hint: upstream.hint } : {}) };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (connectionLost.test(message)) {
    return { code: 'proxy.upstream_unavailable', sqlState: ErrorCodes['proxy.upstream_unavailable'].sqlState, message: 'the upstream database connection was lost; retry the statement' };
  }
  return undefined;
};
