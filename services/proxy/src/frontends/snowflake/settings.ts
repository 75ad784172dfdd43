/** A Snowflake connection as the front door describes it at login: its name and the session defaults it reports. */
export interface SnowflakeConnectionInfo {
  name: string;
  database?: string;
  schema?: string;
  warehouse?: string;
}

/** The Snowflake front door's settings, resolved once from the config file. */
export interface SnowflakeSettings {
  /** the configured Snowflake connections; a login's account name designates one (case-insensitive) */
  connections: readonly SnowflakeConnectionInfo[];
  /** how long a statement held for approval waits for the decision: as long as a request can stay pending, plus a minute */
  approvalHoldMs: number;
}
