import type { ColumnInfo } from '../../engines/engine.js';
import type { SnowflakeFailure } from './errors.js';

/** A session parameter as Snowflake reports it at login and with every result. */
export interface Parameter {
  name: string;
  value: string | number | boolean;
}

/**
 * Snowflake's defaults for the parameters that drivers need to decode results: `TIMEZONE` for TIMESTAMP_LTZ and
 * `BINARY_OUTPUT_FORMAT` for BINARY (snowflake-sdk crashes without them), the output formats for display.
 */
export const defaultParameters: readonly Parameter[] = Object.freeze([
  { name: 'TIMEZONE', value: 'UTC' },
  { name: 'DATE_OUTPUT_FORMAT', value: 'YYYY-MM-DD' },
  { name: 'TIME_OUTPUT_FORMAT', value: 'HH24:MI:SS' },
  { name: 'TIMESTAMP_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM' },
  { name: 'TIMESTAMP_NTZ_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3' },
  { name: 'TIMESTAMP_LTZ_OUTPUT_FORMAT', value: '' },
  { name: 'TIMESTAMP_TZ_OUTPUT_FORMAT', value: '' },
  { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
  { name: 'CLIENT_SESSION_KEEP_ALIVE', value: false },
  { name: 'CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY', value: 3600 },
  { name: 'QUERY_CONTEXT_CACHE_SIZE', value: 5 },
]);

/** Database, schema, warehouse and role names reported to the client (`sessionInfo`, `final*Name`). */
export interface SessionInfo {
  databaseName: string | null;
  schemaName: string | null;
  warehouseName: string | null;
  roleName: string | null;
}

/** Statement type ids (JDBC `SFStatementType`); snowflake-sdk counts updated rows only for the DML ones. */
export const statementTypes = {
  select: 0x1000,
  insert: 0x3100,
  update: 0x3200,
  delete: 0x3300,
  merge: 0x3400,
  scl: 0x4000,
  tcl: 0x5000,
  ddl: 0x6000,
} as const;

const TEXT_LENGTH = 16777216;

/** The rowtype entry for a column: the upstream's own when it is Snowflake, else a text column of that name. */
export function rowtypeOf(column: ColumnInfo): Record<string, unknown> {
  if (column.snowflake) return column.snowflake;
  return {
    name: column.name,
    database: '',
    schema: '',
    table: '',
    type: 'text',
    nullable: true,
    precision: null,
    scale: null,
    length: TEXT_LENGTH,
    byteLength: TEXT_LENGTH,
    collation: null,
  };
}

function countColumn(name: string): Record<string, unknown> {
  return { name, database: '', schema: '', table: '', type: 'fixed', nullable: false, precision: 19, scale: 0, length: null, byteLength: null, collation: null };
}

export const statusColumn: Record<string, unknown> = { ...rowtypeOf({ name: 'status', textual: true }) };

const DML_COLUMNS: ReadonlyArray<[number, readonly string[]]> = [
  [statementTypes.merge, ['number of rows inserted', 'number of rows updated', 'number of rows deleted']],
  [statementTypes.insert, ['number of rows inserted']],
  [statementTypes.update, ['number of rows updated', 'number of multi-joined rows updated']],
  [statementTypes.update, ['number of rows updated']],
  [statementTypes.delete, ['number of rows deleted']],
];

const TAG_TYPES: Record<string, number> = {
  SELECT: statementTypes.select,
  SHOW: statementTypes.scl + 0x400,
  DESCRIBE: statementTypes.scl + 0x500,
  DESC: statementTypes.scl + 0x500,
  USE: statementTypes.scl + 0x300,
  ALTER: statementTypes.ddl,
  BEGIN: statementTypes.tcl,
  START: statementTypes.tcl,
  COMMIT: statementTypes.tcl,
  ROLLBACK: statementTypes.tcl,
  CREATE: statementTypes.ddl,
  DROP: statementTypes.ddl,
  GRANT: statementTypes.ddl,
  REVOKE: statementTypes.ddl,
  TRUNCATE: statementTypes.ddl,
};

/**
 * The statement type of a result: DML results are recognised by Snowflake's count columns (what a Snowflake upstream
 * returns), others by the command tag. snowflake-sdk needs the DML ids to report `getNumUpdatedRows()`.
 */
export function statementTypeOf(columnNames: readonly string[] | null, tag: string | undefined): number {
  if (columnNames) {
    const lower = columnNames.map((c) => c.toLowerCase());
    for (const [type, names] of DML_COLUMNS) {
      if (lower.length === names.length && names.every((n, i) => lower[i] === n)) return type;
    }
  }
  const verb = (tag ?? '').trim().split(/\s+/)[0]?.toUpperCase() ?? '';
  if (verb === 'INSERT') return statementTypes.insert;
  if (verb === 'UPDATE') return statementTypes.update;
  if (verb === 'DELETE') return statementTypes.delete;
  if (verb === 'MERGE') return statementTypes.merge;
  if (columnNames) return statementTypes.select;
  return TAG_TYPES[verb] ?? statementTypes.scl;
}

/**
 * A statement that returned no columns still answers one row, as Snowflake does: DML a row of counts (taken from a
 * PostgreSQL-style tag such as `INSERT 0 2`), anything else a status row. The driver needs that row.
 */
export function synthesizedResult(tag: string | undefined): { rowtype: Array<Record<string, unknown>>; row: string[]; statementTypeId: number } {
  const statementTypeId = statementTypeOf(null, tag);
  const count = /(\d+)\s*$/.exec(tag ?? '')?.[1] ?? '0';
  switch (statementTypeId) {
    case statementTypes.insert:
      return { rowtype: [countColumn('number of rows inserted')], row: [count], statementTypeId };
    case statementTypes.update:
      return { rowtype: [countColumn('number of rows updated'), countColumn('number of multi-joined rows updated')], row: [count, '0'], statementTypeId };
    case statementTypes.delete:
      return { rowtype: [countColumn('number of rows deleted')], row: [count], statementTypeId };
    case statementTypes.merge:
      return {
        rowtype: ['number of rows inserted', 'number of rows updated', 'number of rows deleted'].map(countColumn),
        row: ['0', count, '0'],
        statementTypeId,
      };
    default:
      return { rowtype: [statusColumn], row: ['Statement executed successfully.'], statementTypeId };
  }
}

/** The `data` fields of a failure: what snowflake-sdk turns into `err.sqlState`, `err.data` and the query id. */
export function failureData(f: SnowflakeFailure, queryId: string | null): Record<string, unknown> {
  return {
    internalError: f.airlockCode === 'runtime.internal',
    errorCode: f.code,
    age: 0,
    sqlState: f.sqlState,
    queryId,
    line: -1,
    pos: -1,
    type: f.airlockCode.startsWith('proxy.upstream') ? 'EXECUTION' : 'COMPILATION',
    airlockCode: f.airlockCode,
    ...(f.requestId ? { airlockRequestId: f.requestId } : {}),
  };
}

/** `{success:false, …}` — always sent with HTTP 200: the driver retries 5xx for minutes. */
export function failureBody(f: SnowflakeFailure, queryId: string | null): Record<string, unknown> {
  return { success: false, code: f.code, message: f.message, data: failureData(f, queryId), headers: null };
}

/** A login refusal: the driver reads the code; `nextAction` matches what Snowflake sends for OAuth. */
export function loginFailureBody(f: SnowflakeFailure): Record<string, unknown> {
  const oauth = f.code === '390303' || f.code === '390318';
  return {
    success: false,
    code: f.code,
    message: f.message,
    data: oauth ? { nextAction: 'RETRY_LOGIN', authnMethod: 'OAUTH', signInOptions: {}, airlockCode: f.airlockCode } : { airlockCode: f.airlockCode },
    headers: null,
  };
}

export function okBody(data: unknown = null): Record<string, unknown> {
  return { success: true, code: null, message: null, data };
}

export interface LoginGrant {
  token: string;
  masterToken: string;
  validityInSeconds: number;
  masterValidityInSeconds: number;
  sessionId: number;
  displayUserName: string;
  parameters: readonly Parameter[];
  sessionInfo: SessionInfo;
}

export function loginBody(g: LoginGrant): Record<string, unknown> {
  return okBody({
    token: g.token,
    masterToken: g.masterToken,
    validityInSeconds: g.validityInSeconds,
    masterValidityInSeconds: g.masterValidityInSeconds,
    sessionId: g.sessionId,
    displayUserName: g.displayUserName,
    serverVersion: 'airlock',
    firstLogin: false,
    remMeToken: null,
    remMeValidityInSeconds: 0,
    healthCheckInterval: 45,
    newClientForUpgrade: null,
    parameters: g.parameters,
    sessionInfo: g.sessionInfo,
    idToken: null,
    idTokenValidityInSeconds: 0,
    responseData: null,
    mfaToken: null,
    mfaTokenValidityInSeconds: 0,
  });
}

export function renewBody(g: { token: string; masterToken: string; validityInSeconds: number; masterValidityInSeconds: number; sessionId: number }): Record<string, unknown> {
  return okBody({
    sessionToken: g.token,
    validityInSecondsST: g.validityInSeconds,
    masterToken: g.masterToken,
    validityInSecondsMT: g.masterValidityInSeconds,
    sessionId: g.sessionId,
  });
}

/** `333333` makes the driver poll `getResultUrl`; `333334` is the answer to `asyncExec`. */
export function inProgressBody(queryId: string, options: { async: boolean; message?: string | undefined }): Record<string, unknown> {
  return {
    success: true,
    code: options.async ? '333334' : '333333',
    message:
      options.message ??
      (options.async
        ? 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.'
        : 'Query execution in progress. Use provided query id to perform query monitoring and management.'),
    data: { queryId, getResultUrl: `/queries/${queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
  };
}

/** Statuses `connection.getQueryStatus()` understands; a statement held for approval is QUEUED (still running). */
export type QueryStatus = 'RUNNING' | 'QUEUED' | 'SUCCESS' | 'FAILED_WITH_ERROR' | 'ABORTED';

export function monitoringBody(
  q: { queryId: string; status: QueryStatus; startTime: number; endTime: number | null; sessionId: number; failure: SnowflakeFailure | null } | null,
  now: number,
): Record<string, unknown> {
  if (!q) return okBody({ queries: [] });
  return {
    success: true,
    code: q.failure ? q.failure.code : null,
    message: null,
    data: {
      queries: [
        {
          id: q.queryId,
          status: q.status,
          state: q.status,
          startTime: q.startTime,
          endTime: q.endTime ?? 0,
          totalDuration: (q.endTime ?? now) - q.startTime,
          errorCode: q.failure?.code ?? null,
          errorMessage: q.failure?.message ?? null,
          sessionId: q.sessionId,
        },
      ],
      sqlState: q.failure?.sqlState ?? null,
    },
  };
}
