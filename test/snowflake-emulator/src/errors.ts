/**
 * Snowflake-shaped failures. Everything the emulator refuses travels as a SnowflakeError so that the HTTP layer can
 * answer it in the connector protocol (HTTP 200, `success:false`, `code`, `message`, `data.sqlState`), never as a 5xx
 * that the driver would retry for minutes.
 */
export class SnowflakeError extends Error {
  override readonly name = 'SnowflakeError';
  constructor(
    readonly code: string,
    message: string,
    readonly sqlState: string,
    /** Extra fields merged into the response `data` (login failures carry nextAction/authnMethod). */
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const COMPILATION = 'SQL compilation error:\n';

/** Constructors for the failures the emulator produces; messages follow Snowflake's wording. */
export const sfErrors = {
  badUserPassword: () => new SnowflakeError('390100', 'Incorrect username or password was specified.', '08004'),
  userDisabled: () =>
    new SnowflakeError('390101', 'User access disabled. Contact your local system administrator.', '08004'),
  userExpired: () =>
    new SnowflakeError('390101', 'User access expired. Contact your local system administrator.', '08004'),
  jwtInvalid: () => new SnowflakeError('390144', 'JWT token is invalid.', '08004'),
  oauthInvalid: () =>
    new SnowflakeError('390303', 'Invalid OAuth access token.', '08004', {
      nextAction: 'RETRY_LOGIN',
      authnMethod: 'OAUTH',
      signInOptions: {},
    }),
  oauthExpired: () =>
    new SnowflakeError('390318', 'OAuth access token expired.', '08004', {
      nextAction: 'RETRY_LOGIN',
      authnMethod: 'OAUTH',
      signInOptions: {},
    }),
  roleNotGranted: (role: string) =>
    new SnowflakeError(
      '390189',
      `Role '${role}' specified in the connect string is not granted to this user. Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC.`,
      '08004',
    ),
  sessionTokenInvalid: () =>
    new SnowflakeError('390104', 'Authentication token is invalid. The user must authenticate again.', '08001'),
  sessionGone: () =>
    new SnowflakeError('390111', 'Session no longer exists.  New login required to access the service.', '08001'),
  sessionExpired: () => new SnowflakeError('390112', 'Your session has expired. Please login again.', '08001'),
  masterExpired: () =>
    new SnowflakeError('390114', 'Authentication token has expired.  The user must authenticate again.', '08001'),
  canceled: () => new SnowflakeError('000604', 'SQL execution canceled', '57014'),
  notExecuting: () => new SnowflakeError('000605', 'Identified SQL statement is not currently executing.', '01000'),
  queryNotFound: (id: string) => new SnowflakeError('000709', `Statement ${id} not found`, '02000'),
  syntax: (detail: string) => new SnowflakeError('001003', `${COMPILATION}${detail}`, '42000'),
  doesNotExist: (name: string) =>
    new SnowflakeError('002003', `${COMPILATION}Object '${name}' does not exist or not authorized.`, '42S02'),
  userDoesNotExist: (name: string) =>
    new SnowflakeError('002003', `${COMPILATION}User '${name}' does not exist or not authorized.`, '02000'),
  roleDoesNotExist: (name: string) =>
    new SnowflakeError('002003', `${COMPILATION}Role '${name}' does not exist or not authorized.`, '02000'),
  alreadyExists: (name: string) =>
    new SnowflakeError('002002', `${COMPILATION}Object '${name}' already exists.`, '42710'),
  invalidIdentifier: (name: string) =>
    new SnowflakeError('000904', `${COMPILATION}error line 1 at position 0\ninvalid identifier '${name}'`, '42000'),
  insufficientPrivileges: (kind: string, name: string) =>
    new SnowflakeError('003001', `SQL access control error:\nInsufficient privileges to operate on ${kind} '${name}'`, '42501'),
  roleNotAssigned: (role: string) =>
    new SnowflakeError(
      '003013',
      `Requested role '${role}' is not assigned to the executing user. Specify another role to activate.`,
      '42501',
    ),
  invalidPublicKey: (reason: string) =>
    new SnowflakeError('002028', `New public key rejected by current policy. reason: ${reason}`, '22023'),
  invalidProperty: (detail: string) => new SnowflakeError('002029', `${COMPILATION}${detail}`, '42601'),
  unsupported: (detail: string) => new SnowflakeError('002040', `${COMPILATION}${detail}`, '0A000'),
  internal: () =>
    new SnowflakeError('000603', 'SQL execution internal error: Processing aborted due to error 300002.', 'XX000'),
} as const;

/** The fields of a PostgreSQL error (pg's DatabaseError) that the translation needs. */
interface PgErrorLike {
  code?: string;
  message: string;
  position?: string;
}

function isPgError(err: unknown): err is PgErrorLike & Error {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** PostgreSQL stores unquoted names lower-case; Snowflake reports them upper-case. */
function reportName(pgName: string): string {
  return pgName === pgName.toLowerCase() ? pgName.toUpperCase() : pgName;
}

/**
 * Translate a PostgreSQL error into the Snowflake error an agent would see for the same mistake. The PostgreSQL
 * SQLSTATE is passed through as sqlState except where Snowflake uses its own (42S02, canceled), so that callers can
 * still classify by the standard class.
 */
export function fromPgError(err: unknown): SnowflakeError {
  if (err instanceof SnowflakeError) return err;
  if (!isPgError(err)) return sfErrors.internal();
  const code = err.code ?? '';
  const msg = err.message;
  switch (code) {
    case '57014':
      return sfErrors.canceled();
    case '42501': {
      const m = /permission denied for (table|view|schema|sequence|relation|function|materialized view) "?([^"\s]+)"?/.exec(msg);
      if (m) {
        const kind = m[1] === 'relation' || m[1] === 'materialized view' ? 'table' : m[1];
        return sfErrors.insufficientPrivileges(kind, reportName(m[2]));
      }
      return new SnowflakeError('003001', `SQL access control error:\n${msg}`, '42501');
    }
    case '42P01': {
      const m = /relation "([^"]+)" does not exist/.exec(msg);
      return new SnowflakeError(
        '002003',
        `${COMPILATION}Object '${m ? reportName(m[1]) : '?'}' does not exist or not authorized.`,
        '42S02',
      );
    }
    case '42703': {
      const m = /column "([^"]+)" does not exist/.exec(msg);
      const pos = err.position ?? '0';
      return new SnowflakeError(
        '000904',
        `${COMPILATION}error line 1 at position ${pos}\ninvalid identifier '${m ? reportName(m[1]) : '?'}'`,
        '42703',
      );
    }
    case '42601': {
      const m = /syntax error at or near "([^"]*)"/.exec(msg);
      const pos = err.position ?? '0';
      const detail = m ? `syntax error line 1 at position ${pos} unexpected '${m[1]}'.` : msg;
      return new SnowflakeError('001003', `${COMPILATION}${detail}`, '42601');
    }
    case '42883':
      return new SnowflakeError('002140', `${COMPILATION}${msg}`, code);
    case '42P07':
    case '42710': {
      const m = /"([^"]+)" already exists/.exec(msg);
      return new SnowflakeError('002002', `${COMPILATION}Object '${m ? reportName(m[1]) : '?'}' already exists.`, code);
    }
    case '42704':
      return new SnowflakeError('002003', `${COMPILATION}${msg}`, code);
    default:
      break;
  }
  if (code === '22P02' || code === '22007' || code === '22008') {
    // Snowflake quotes the value it could not convert, as these do: "Numeric value '275-10-5481' is not recognized".
    const m = /^invalid input syntax for type ([a-z ]+?)(?: with time zone| without time zone)?: "(.*)"$/s.exec(msg);
    if (m) {
      const [, type, value] = m;
      if (/^(numeric|integer|bigint|smallint|double precision|real)$/.test(type)) {
        return new SnowflakeError('100038', `Numeric value '${value}' is not recognized`, '22018');
      }
      if (type === 'boolean') return new SnowflakeError('100037', `Boolean value '${value}' is not recognized`, '22018');
      if (type === 'date') return new SnowflakeError('100040', `Date '${value}' is not recognized`, '22007');
      if (type === 'timestamp' || type === 'time') return new SnowflakeError('100035', `Timestamp '${value}' is not recognized`, '22007');
    }
    const d = /^date\/time field value out of range: "(.*)"$/s.exec(msg);
    if (d) return new SnowflakeError('100040', `Date '${d[1]}' is not recognized`, '22007');
  }
  if (code.startsWith('22')) return new SnowflakeError('100038', msg, code);
  if (code.startsWith('23')) return new SnowflakeError('100072', msg, code);
  if (code.startsWith('42')) return new SnowflakeError('002000', `${COMPILATION}${msg}`, code);
  return new SnowflakeError('000603', `SQL execution error: ${msg}`, code);
}
