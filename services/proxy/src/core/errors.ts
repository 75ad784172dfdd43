import type { DetectorName, policyV1 } from '@airlock/contracts';
import { detect } from '@airlock/masking';
import { AirlockError } from '@airlock/runtime';
import type { ClientError, UpstreamErrorMapper } from '../engines/engine.js';
import { postgresErrors } from '../engines/postgres/errors.js';
import { snowflakeErrors } from '../engines/snowflake/errors.js';

export type { ClientError } from '../engines/engine.js';

/** Each engine's own reading of its driver's failures, asked in turn. */
const engineErrors: readonly UpstreamErrorMapper[] = [snowflakeErrors, postgresErrors];

/** Classifies anything thrown on the data path. Never includes a credential or a row value. */
export function classify(err: unknown, limits?: { timeoutMs: number }): ClientError {
  if (err instanceof AirlockError) {
    const hint = typeof err.details?.['hint'] === 'string' ? (err.details['hint'] as string) : undefined;
    const snowflakeCode = typeof err.details?.['snowflakeCode'] === 'string' ? (err.details['snowflakeCode'] as string) : undefined;
    return { code: err.code, sqlState: err.sqlState, message: err.message, ...(hint ? { hint } : {}), ...(snowflakeCode ? { snowflakeCode } : {}) };
  }
  for (const mapped of engineErrors) {
    const e = mapped(err, limits);
    if (e) return e;
  }
  return { code: 'runtime.internal', sqlState: 'XX000', message: 'internal error in Airlock; the operator can find it by the request id' };
}

/** What a statement's decision says about masked data: whether anything it reads is masked for this principal. */
export type MaskedReads = Pick<policyV1.Decision, 'maskedSources' | 'masking' | 'analysis'>;

/** True when the statement read any column that is masked for its principal, or its reads are unknown. */
export function readsMasked(decision: MaskedReads | undefined): boolean {
  if (!decision) return true;
  if (decision.analysis === null) return true;
  return decision.maskedSources.length > 0 || decision.masking.maskUnlisted || decision.masking.columns.some((c) => c.action !== null);
}

/** One fixed message per SQLSTATE class: what went wrong, never which value made it go wrong. */
const CLASS_MESSAGES: Readonly<Record<string, string>> = {
  '21': 'a subquery or row returned the wrong number of values',
  '22': 'a value could not be converted or computed (data exception)',
  '23': 'the statement would violate an integrity constraint',
  '25': 'the statement is not allowed in the current transaction state',
  '2F': 'a function failed while running',
  '38': 'a function failed while running',
  '39': 'a function failed while running',
  '40': 'the transaction was rolled back by the database',
  '42': 'the statement refers to something that does not exist or is not allowed (syntax or access rule violation)',
  '53': 'the database ran out of a resource',
  '54': 'the statement exceeds a database limit',
  '55': 'an object the statement needs is not in the required state',
  '57': 'the database cancelled or ended the statement',
  P0: 'a function raised an error',
  XX: 'the database reported an internal error',
};

/**
 * The error a client and the audit log get for a statement that read masked data: the upstream SQLSTATE and a fixed
 * message for it. The database's own text (which quotes the offending value: `invalid input syntax for type integer:
 * "275-10-5481"`), its hint and the upstream Snowflake message are dropped; the Snowflake error code is kept.
 */
export function scrubbed(e: ClientError): ClientError {
  const what = CLASS_MESSAGES[e.sqlState.slice(0, 2)] ?? 'the database refused the statement';
  return {
    code: e.code,
    sqlState: e.sqlState,
    message:
      `${what} (SQLSTATE ${e.sqlState}). The statement reads columns that are masked for you, so Airlock does not pass on ` +
      `the message of the database, which can quote their values; check the types and functions the statement uses`,
    ...(e.snowflakeCode ? { snowflakeCode: e.snowflakeCode } : {}),
  };
}

/** Content detectors over an upstream message of a statement that read nothing masked: free text can still hold PII. */
function detected(text: string, detectors: readonly DetectorName[]): string {
  return detectors.length === 0 ? text : detect(text, detectors).value;
}

/**
 * The client-facing form of an error for one statement. Only errors that carry the upstream's own text are changed:
 * scrubbed when the statement read masked data (or its reads are unknown), else run through the content detectors.
 */
export function forStatement(e: ClientError, decision: MaskedReads | undefined): ClientError {
  if (e.code !== 'proxy.upstream_error') return e;
  if (readsMasked(decision)) return scrubbed(e);
  const detectors = decision?.masking.detectors ?? [];
  return { ...e, message: detected(e.message, detectors), ...(e.hint ? { hint: detected(e.hint, detectors) } : {}) };
}
