import { ErrorCodes, type ErrorCode } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import { upstreamErrorOf } from '../engines/postgres/upstream.js';
import { SnowflakeError } from '../engines/snowflake/wire-client.js';

/** An error as every front door reports it: an Airlock code plus what the client protocol needs. */
export interface ClientError {
  code: ErrorCode;
  sqlState: string;
  message: string;
  hint?: string;
  /** the upstream Snowflake error code, passed through to Snowflake clients */
  snowflakeCode?: string;
}

/** Classifies anything thrown on the data path. Never includes a credential or a row value. */
export function classify(err: unknown, limits?: { timeoutMs: number }): ClientError {
  if (err instanceof AirlockError) {
    const hint = typeof err.details?.['hint'] === 'string' ? (err.details['hint'] as string) : undefined;
    const snowflakeCode = typeof err.details?.['snowflakeCode'] === 'string' ? (err.details['snowflakeCode'] as string) : undefined;
    return { code: err.code, sqlState: err.sqlState, message: err.message, ...(hint ? { hint } : {}), ...(snowflakeCode ? { snowflakeCode } : {}) };
  }
  if (err instanceof SnowflakeError) {
    return { code: 'proxy.upstream_error', sqlState: err.sqlState, message: err.message, snowflakeCode: err.code };
  }
  const upstream = upstreamErrorOf(err);
  if (upstream) {
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
  if (/ECONNREFUSED|ECONNRESET|terminat|Connection terminated|timeout expired/i.test(message)) {
    return { code: 'proxy.upstream_unavailable', sqlState: ErrorCodes['proxy.upstream_unavailable'].sqlState, message: 'the upstream database connection was lost; retry the statement' };
  }
  return { code: 'runtime.internal', sqlState: 'XX000', message: 'internal error in Airlock; the operator can find it by the request id' };
}
