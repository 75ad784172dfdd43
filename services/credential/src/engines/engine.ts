import type { credentialV1 } from '@airlock/contracts';

export interface MintInput {
  username: string;
  /** the database role the lease is granted (already mapped from the policy's logical role) */
  role: string;
  expiresAt: Date;
}

/** How one kind of upstream mints and revokes ephemeral credentials. Only the credential service holds an engine. */
export interface CredentialEngine {
  readonly type: 'postgres' | 'snowflake';
  /** creates the credential and returns what the proxy needs to connect (contains a secret) */
  mint(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']>;
  /**
   * Pooled credentials, made ahead of any lease, all or none: each exists under the lease prefix but no one can use it
   * (no login, no secret, no rights) until `mintPooled` turns it into a lease's credential. Engines without pools
   * leave it out.
   */
  createPooled?(usernames: readonly string[]): Promise<void>;
  /** makes a pooled credential the lease's, exactly what `mint` would have made, in one round trip */
  mintPooled?(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']>;
  /**
   * Lets pooled credentials log in, one connection each, still holding no right, for a proxy to open its upstream
   * connections ahead (standby leases); what the proxy needs to connect, in order. One round trip, all or none.
   */
  standby?(inputs: ReadonlyArray<{ username: string; expiresAt: Date }>): Promise<Array<credentialV1.LeaseGrant['upstream']>>;
  /**
   * gives a standby credential the lease's role, on the connection the proxy holds open already; where the upstream
   * is, with no secret
   */
  grantStandby?(input: MintInput): Promise<credentialV1.LeaseGrant['upstream']>;
  /**
   * disables login, ends the credential's live sessions and running queries, then drops it; idempotent.
   * `upstreamSessions`: the sessions the proxy recorded under the lease, for a credential shared between leases
   * (External OAuth), where only these sessions are the lease's to end
   */
  revoke(username: string, upstreamSessions?: readonly string[]): Promise<{ terminatedSessions: number }>;
  /** ends upstream sessions by id (a session opened under a lease that was revoked meanwhile) */
  endSessions?(sessionIds: readonly string[]): Promise<number>;
  /** every credential on the upstream whose name starts with the prefix */
  listWithPrefix(prefix: string): Promise<string[]>;
  catalog(): Promise<credentialV1.CatalogResponse['tables'] & object>;
  searchPath(): string[];
  close(): Promise<void>;
}
