import type { credentialV1, ErrorCode } from '@airlock/contracts';
import type { WireRows } from './wire-rows.js';

/** A PostgreSQL column as the server describes it in RowDescription: what the pgwire door passes on unchanged. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
}

/** An error as every front door reports it: an Airlock code plus what the client protocol needs. */
export interface ClientError {
  code: ErrorCode;
  sqlState: string;
  message: string;
  hint?: string;
  /** the upstream Snowflake error code, passed through to Snowflake clients */
  snowflakeCode?: string;
}

/**
 * How one engine's driver failures read to a client: the error it maps, or undefined when `err` is not one of its
 * driver's. Each engine knows its own driver's errors; the core only asks each in turn.
 */
export type UpstreamErrorMapper = (err: unknown, limits?: { timeoutMs: number }) => ClientError | undefined;

/** One output column as the upstream described it; front doors use their own engine's description. */
export interface ColumnInfo {
  name: string;
  /** values are free text: masks keep the type and detectors run; otherwise a masked value becomes NULL */
  textual: boolean;
  /**
   * the text has a grammar of its own (JSON, XML, an array literal): detectors still run inside it, but a masking
   * action's output would not parse as the type (a client that decodes `[REDACTED]` as JSON throws), so a masked
   * value of such a column becomes NULL
   */
  structured?: boolean;
  /** the PostgreSQL field description, when the upstream is PostgreSQL */
  pg?: FieldDescription;
  /** the Snowflake rowtype entry, when the upstream is Snowflake */
  snowflake?: Record<string, unknown>;
}

export interface UpstreamPortal {
  /** null when the statement returns no rows */
  readonly columns: ColumnInfo[] | null;
  /** up to `max` rows as text; `done` once the statement completed, with its command tag */
  read(max: number): Promise<{ rows: Array<Array<string | null>>; done: boolean; tag: string | undefined }>;
  /** the same rows as PostgreSQL DataRow messages in text format, unparsed: only a PostgreSQL upstream has it */
  readWire?(max: number): Promise<{ rows: WireRows; done: boolean; tag: string | undefined }>;
  close(): Promise<void>;
}

/** One upstream connection authenticated with a lease. */
export interface UpstreamConnection {
  readonly txStatus: 'I' | 'T' | 'E';
  readonly closed: boolean;
  setTimeout(ms: number): Promise<void>;
  /** runs a statement whose result is not needed (a deferred BEGIN) */
  simple(sql: string): Promise<void>;
  /**
   * `read`: policy found nothing in the statement but reads (select, show, explain), so stopping it early may cancel
   * it (see the PostgreSQL engine's whole results)
   */
  open(sql: string, params: Array<string | null>, context: { queryTag: string; read: boolean }): Promise<UpstreamPortal>;
  /** asks the upstream to cancel the running statement */
  cancel(): Promise<void>;
  /**
   * Readies a connection opened ahead of any statement, with nothing the connection's role may not read, so that the
   * statement that takes it does not pay for a fresh server session's first query (engines that need nothing omit it).
   */
  warm?(): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  applicationName: string;
  timeoutMs: number;
}

/** How the proxy reaches one kind of upstream. */
export interface UpstreamEngine {
  readonly type: 'postgres' | 'snowflake';
  connect(lease: credentialV1.LeaseGrant, options: ConnectOptions): Promise<UpstreamConnection>;
}
