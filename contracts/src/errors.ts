import { Type, type Static } from '@sinclair/typebox';

/** Every error that crosses the bus or an HTTP API has this shape. `code` is stable and part of the API. */
export const ErrorEnvelope = Type.Object(
  {
    code: Type.String({ pattern: '^[a-z]+\\.[a-z0-9_]+$' }),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorEnvelope', additionalProperties: false },
);
export type ErrorEnvelope = Static<typeof ErrorEnvelope>;

/**
 * The stable error codes, each with the one HTTP status and PostgreSQL SQLSTATE it maps to.
 * Front doors translate these into their own protocol.
 */
export const ErrorCodes = {
  'runtime.invalid_request': { status: 400, sqlState: '08P01' },
  'runtime.invalid_response': { status: 502, sqlState: 'XX000' },
  'runtime.unavailable': { status: 503, sqlState: '08006' },
  'runtime.timeout': { status: 504, sqlState: '57014' },
  'runtime.internal': { status: 500, sqlState: 'XX000' },
  'identity.missing_token': { status: 401, sqlState: '28000' },
  'identity.invalid_token': { status: 401, sqlState: '28P01' },
  'identity.expired_token': { status: 401, sqlState: '28P01' },
  'identity.unknown_issuer': { status: 401, sqlState: '28P01' },
  'identity.audience_mismatch': { status: 401, sqlState: '28P01' },
  'identity.forbidden': { status: 403, sqlState: '42501' },
  'identity.replayed_token': { status: 401, sqlState: '28P01' },
  'policy.denied': { status: 403, sqlState: '42501' },
  'policy.parse_error': { status: 400, sqlState: '42601' },
  'policy.unknown_connection': { status: 404, sqlState: '3D000' },
  'policy.multiple_statements': { status: 400, sqlState: '0A000' },
  'policy.forbidden_function': { status: 403, sqlState: '42501' },
  'policy.forbidden_command': { status: 403, sqlState: '42501' },
  'policy.inference_on_masked_column': { status: 403, sqlState: '42501' },
  'policy.result_shape_unknown': { status: 403, sqlState: '42501' },
  'policy.masked_column_copied': { status: 403, sqlState: '42501' },
  'policy.no_rule': { status: 403, sqlState: '42501' },
  'policy.forbidden_relation': { status: 403, sqlState: '42501' },
  'policy.unknown_relation': { status: 403, sqlState: '42P01' },
  'policy.statement_too_large': { status: 413, sqlState: '54000' },
  'approval.required': { status: 403, sqlState: '42501' },
  'approval.pending': { status: 202, sqlState: '57014' },
  'approval.denied': { status: 403, sqlState: '42501' },
  'approval.expired': { status: 403, sqlState: '42501' },
  'approval.not_found': { status: 404, sqlState: '42704' },
  'approval.self_approval': { status: 403, sqlState: '42501' },
  'approval.not_approver': { status: 403, sqlState: '42501' },
  'approval.already_decided': { status: 409, sqlState: '55000' },
  'approval.reason_required': { status: 400, sqlState: '22023' },
  'approval.invalid_window': { status: 400, sqlState: '22023' },
  'approval.untrusted_decision': { status: 403, sqlState: '42501' },
  'credential.unknown_connection': { status: 404, sqlState: '3D000' },
  'credential.mint_failed': { status: 503, sqlState: '08004' },
  'credential.revoke_failed': { status: 503, sqlState: '08006' },
  'credential.lease_not_found': { status: 404, sqlState: '42704' },
  'credential.standby_gone': { status: 409, sqlState: '08004' },
  'credential.untrusted_decision': { status: 403, sqlState: '42501' },
  'proxy.row_limit': { status: 413, sqlState: '54000' },
  'proxy.statement_timeout': { status: 504, sqlState: '57014' },
  'proxy.upstream_error': { status: 502, sqlState: 'XX000' },
  'proxy.upstream_unavailable': { status: 503, sqlState: '08006' },
  'proxy.transaction_not_allowed': { status: 400, sqlState: '25000' },
  'proxy.session_ended': { status: 401, sqlState: '57P01' },
  'proxy.untrusted_decision': { status: 502, sqlState: 'XX000' },
  'proxy.unknown_table': { status: 404, sqlState: '42P01' },
  'proxy.limit_reached': { status: 429, sqlState: '53300' },
  'audit.forbidden': { status: 403, sqlState: '42501' },
  'audit.not_found': { status: 404, sqlState: '42704' },
  'console.not_signed_in': { status: 401, sqlState: '28000' },
  'console.forbidden': { status: 403, sqlState: '42501' },
  'console.csrf_rejected': { status: 403, sqlState: '42501' },
  'console.sign_in_failed': { status: 401, sqlState: '28000' },
} as const satisfies Record<string, { status: number; sqlState: string }>;
export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ErrorCodes, code);
}
