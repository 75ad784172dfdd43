import { ErrorCodes, isErrorCode, type ErrorCode } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';

/** An error as a Snowflake client sees it: a Snowflake error code, its message and the SQLSTATE. */
export interface SnowflakeFailure {
  /** the Snowflake error code, six digits ("003001") or a GS login code ("390303") */
  code: string;
  message: string;
  sqlState: string;
  /** Airlock's own code, so that an agent or operator can tell a policy refusal from an upstream error */
  airlockCode: ErrorCode;
  /** Airlock's request id for the statement, when one was assigned */
  requestId?: string;
}

/** Snowflake's own codes for the conditions Airlock refuses or reports (see the front door's README). */
export const snowflakeCodes = {
  accessControl: '003001',
  compilation: '001003',
  doesNotExist: '002003',
  statementCount: '000008',
  unsupported: '002040',
  canceled: '000604',
  notExecuting: '000605',
  timeout: '000630',
  queryNotFound: '000709',
  internal: '000603',
  badUserPassword: '390100',
  sessionTokenInvalid: '390104',
  sessionGone: '390111',
  sessionExpired: '390112',
  masterExpired: '390114',
  oauthInvalid: '390303',
  oauthExpired: '390318',
} as const;

/** Where an upstream reported no Snowflake code (or the code was lost on the way), the SQLSTATE class decides. */
function codeForSqlState(sqlState: string): string {
  if (sqlState === '42S02' || sqlState === '42P01') return snowflakeCodes.doesNotExist;
  if (sqlState === '42501') return snowflakeCodes.accessControl;
  if (sqlState === '42703') return '000904';
  if (sqlState === '57014') return snowflakeCodes.canceled;
  if (sqlState.startsWith('42')) return snowflakeCodes.compilation;
  if (sqlState.startsWith('22')) return '100038';
  if (sqlState.startsWith('23')) return '100072';
  return snowflakeCodes.internal;
}

function codeFor(code: ErrorCode, sqlState: string, details: Record<string, unknown> | undefined): string {
  const upstream = details?.['snowflakeCode'];
  if (typeof upstream === 'string' && /^\d{6}$/.test(upstream)) return upstream;
  if (code === 'proxy.upstream_error') return codeForSqlState(sqlState);
  if (code === 'policy.parse_error') return snowflakeCodes.compilation;
  if (code === 'policy.multiple_statements') return snowflakeCodes.statementCount;
  if (code === 'policy.unknown_connection' || code === 'credential.unknown_connection') return snowflakeCodes.doesNotExist;
  if (code === 'proxy.statement_timeout') return snowflakeCodes.timeout;
  if (code.startsWith('policy.') || code.startsWith('approval.')) return snowflakeCodes.accessControl;
  if (code === 'identity.expired_token') return snowflakeCodes.oauthExpired;
  if (code.startsWith('identity.')) return snowflakeCodes.oauthInvalid;
  return codeForSqlState(sqlState);
}

/**
 * Any error from the data path in Snowflake's terms. Policy and approval refusals keep Airlock's message (it names
 * the rule and what to do next) under Snowflake's access-control code; upstream errors keep the upstream's code,
 * message and SQLSTATE. Anything unexpected becomes an internal error that says nothing about its cause.
 */
export function toSnowflakeFailure(err: unknown): SnowflakeFailure {
  if (err instanceof AirlockError) {
    const sqlState = err.sqlState;
    const requestId = typeof err.details?.['requestId'] === 'string' ? (err.details['requestId'] as string) : undefined;
    return {
      code: codeFor(err.code, sqlState, err.details),
      message: err.message,
      sqlState,
      airlockCode: err.code,
      ...(requestId ? { requestId } : {}),
    };
  }
  return {
    code: snowflakeCodes.internal,
    message: 'internal error in Airlock; the operator can find it by the query id',
    sqlState: ErrorCodes['runtime.internal'].sqlState,
    airlockCode: 'runtime.internal',
  };
}

/** A failure Airlock itself raises in this front door (session tokens, unknown query ids, cancellation). */
export function failure(code: string, message: string, sqlState: string, airlockCode: ErrorCode = 'runtime.invalid_request'): SnowflakeFailure {
  return { code, message, sqlState, airlockCode: isErrorCode(airlockCode) ? airlockCode : 'runtime.invalid_request' };
}

export const failures = {
  sessionTokenInvalid: () =>
    failure(snowflakeCodes.sessionTokenInvalid, 'Authentication token is invalid. The user must authenticate again.', '08001', 'identity.invalid_token'),
  sessionGone: () =>
    failure(snowflakeCodes.sessionGone, 'Session no longer exists. New login required to access the service.', '08001', 'identity.invalid_token'),
  sessionExpired: () => failure(snowflakeCodes.sessionExpired, 'Your session has expired. Please login again.', '08001', 'identity.expired_token'),
  masterExpired: () =>
    failure(snowflakeCodes.masterExpired, 'Authentication token has expired. The user must authenticate again.', '08001', 'identity.expired_token'),
  canceled: () => failure(snowflakeCodes.canceled, 'SQL execution canceled', '57014', 'runtime.timeout'),
  notExecuting: () => failure(snowflakeCodes.notExecuting, 'Identified SQL statement is not currently executing.', '01000'),
  queryNotFound: (id: string) => failure(snowflakeCodes.queryNotFound, `Statement ${id} not found`, '02000'),
  resultDelivered: (id: string) =>
    failure(snowflakeCodes.queryNotFound, `the result of statement ${id} was already delivered; Airlock streams each result once, run the statement again`, '02000'),
  unsupported: (what: string) => failure(snowflakeCodes.unsupported, `SQL compilation error:\n${what}`, '0A000'),
  emptyStatement: () => failure(snowflakeCodes.compilation, 'SQL compilation error:\nEmpty SQL statement.', '42000'),
  badRequest: (detail: string) => failure(snowflakeCodes.internal, `Airlock could not read this request: ${detail}`, '08P01'),
} as const;
