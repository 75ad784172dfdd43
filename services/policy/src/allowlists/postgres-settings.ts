/**
 * PostgreSQL run-time parameters an agent may `SET`/`RESET`, and those it never may. Names are lower case (the parser
 * folds `DateStyle` to `datestyle`; `SET TIME ZONE` is `timezone`, `SET NAMES` is `client_encoding`).
 *
 * Settable: parameters that change only how the server presents values to this client. Everything else is refused
 * unless `guardrails.allowSettings` names it; the pinned ones are refused even then.
 */

/** Cosmetic parameters: they change how values are shown, never which values or which statement runs. */
export const POSTGRES_SETTABLE: ReadonlySet<string> = new Set([
  'application_name',
  'extra_float_digits',
  'datestyle',
  'intervalstyle',
  'timezone',
  'client_min_messages',
  'bytea_output',
]);

/**
 * Never settable, whatever the config says: they change how the server reads the statement's bytes (so the analyser
 * and the server would read different statements), which role and rows the statement sees, or the limits Airlock set.
 * `SET TRANSACTION SNAPSHOT` imports another session's snapshot.
 */
export const POSTGRES_PINNED: ReadonlyMap<string, string> = new Map([
  ...['standard_conforming_strings', 'backslash_quote', 'escape_string_warning', 'client_encoding', 'array_nulls', 'transform_null_equals'].map(
    (n): [string, string] => [n, 'changes how the server reads the statement text, so Airlock would check a different statement than the one that runs'],
  ),
  ...['search_path', 'role', 'session_authorization', 'row_security', 'session_replication_role'].map(
    (n): [string, string] => [n, 'changes which objects, role or rows the statement reaches'],
  ),
  ...['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout', 'default_transaction_read_only', 'transaction_read_only', 'transaction snapshot'].map(
    (n): [string, string] => [n, 'changes limits Airlock set for this lease'],
  ),
]);
