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
  /** disables login, ends the credential's live sessions and running queries, then drops it; idempotent */
  revoke(username: string): Promise<{ terminatedSessions: number }>;
  /** every credential on the upstream whose name starts with the prefix */
  listWithPrefix(prefix: string): Promise<string[]>;
  catalog(): Promise<credentialV1.CatalogResponse['tables'] & object>;
  searchPath(): string[];
  close(): Promise<void>;
}
