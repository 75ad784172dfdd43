import type { UpstreamErrorMapper } from '../engine.js';

/** A Snowflake error as the server shaped it: code, message and SQLSTATE pass through to the client unchanged. */
export class SnowflakeError extends Error {
  readonly code: string;
  readonly sqlState: string;
  constructor(code: string, message: string, sqlState: string) {
    super(message);
    this.name = 'SnowflakeError';
    this.code = code;
    this.sqlState = sqlState;
  }
}

/** Snowflake failures keep their SQLSTATE and error code, which Snowflake clients act on. */
export const snowflakeErrors: UpstreamErrorMapper = (err) =>
  err instanceof SnowflakeError ? { code: 'proxy.upstream_error', sqlState: err.sqlState, message: err.message, snowflakeCode: err.code } : undefined;
