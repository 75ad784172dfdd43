import { randomUUID } from 'node:crypto';
import type { AirlockConfig } from '@airlock/config';
import type { Logger } from '@airlock/runtime';
import type { CredentialEngine } from './engines/engine.js';
import { newUsername, rolePrefix } from './handlers/issue.js';
import type { LeaseStore, PendingLease } from './store/leases.js';
import type { PoolStore } from './store/pool.js';

const defaultMaxWaitSeconds = 300;

interface Settings {
  size: number;
  maxWaitSeconds: number;
}

export interface CredentialPoolDeps {
  store: PoolStore;
  leases: LeaseStore;
  engines: ReadonlyMap<string, CredentialEngine>;
  config: AirlockConfig;
  logger: Logger;
  /** a copy whose pooled credentials' heartbeat is older than this has died: another copy revokes them */
  heartbeatGraceSeconds: number;
}

/**
 * Credentials made ahead for per-statement leases (`leases.pool`), per connection. A pooled credential can do nothing
 * until a lease takes it; taking it and recording the lease are one statement, after which it is an ordinary lease
 * (its own role, expiry, revocation). Refills run in the background after each draw; a drained pool means the lease
 * is minted on demand, as without a pool. The pool lives in the state database, shared by every copy of the service:
 * each copy heartbeats what it made and revokes it at shutdown, and revokes what a copy that died left behind.
 */
export class CredentialPool {
  /** this process: the owner of the credentials it makes */
  readonly owner = randomUUID();
  readonly #deps: CredentialPoolDeps;
  readonly #settings = new Map<string, Settings>();
  /** the running refill of each connection: one at a time per connection in this copy */
  readonly #refills = new Map<string, Promise<void>>();
  #closed = false;

  constructor(deps: CredentialPoolDeps) {
    this.#deps = deps;
    for (const [name, connection] of Object.entries(deps.config.connections)) {
      const pool = connection.leases?.pool;
      const engine = deps.engines.get(name);
      if (!pool || !engine?.createPooled || !engine.mintPooled) continue;
      this.#settings.set(name, { size: pool.size, maxWaitSeconds: pool.maxWaitSeconds ?? defaultMaxWaitSeconds });
    }
  }

  /** Whether per-statement leases of the connection draw from a pool. */
  has(connection: string): boolean {
    return this.#settings.has(connection);
  }

  /**
   * Records a per-statement lease on a pooled credential (`LeaseStore.insertFromPool`); `drained` when the pool has
   * none. Starts a refill either way.
   */
  async take(connection: string, lease: Omit<PendingLease, 'username'>): ReturnType<LeaseStore['insertFromPool']> {
    const settings = this.#settings.get(connection)!;
    try {
      const taken = await this.#deps.leases.insertFromPool(lease, settings.maxWaitSeconds);
      // a replay raced another request for the same decision and took a credential no table holds any more
      if ('orphan' in taken && taken.orphan !== undefined) await this.#deps.engines.get(connection)!.revoke(taken.orphan);
      return taken;
    } finally {
      this.refill(connection);
    }
  }

  /** Tops the connection's pool up to its size, in the background; a refill already running covers this call. */
  refill(connection: string): void {
    if (this.#closed || this.#refills.has(connection) || !this.#settings.has(connection)) return;
    const run = this.#fill(connection)
      .catch((err: unknown) => this.#deps.logger.error({ connection, err: errorText(err) }, 'refilling the credential pool failed; retried on the next sweep'))
      .finally(() => this.#refills.delete(connection));
    this.#refills.set(connection, run);
  }

  /** Resolves when no refill is running. */
  async settled(): Promise<void> {
    while (this.#refills.size > 0) await Promise.all([...this.#refills.values()]);
  }

  async #fill(connection: string): Promise<void> {
    const { store, engines, config } = this.#deps;
    const { size } = this.#settings.get(connection)!;
    const engine = engines.get(connection)!;
    const prefix = rolePrefix(config.connections[connection]!);
    while (!this.#closed) {
      // the same unguessable name a lease minted on demand gets
      const username = newUsername(engine.type, prefix);
      if (!(await store.reserve(connection, username, this.owner, size))) return;
      try {
        await engine.createPooled!(username);
      } catch (err) {
        // it may exist half-made: revoke whatever is there, with its row
        await this.#withdraw({ connection, username });
        throw err;
      }
      // another copy took this copy for dead meanwhile and withdrew the row: the role is no one's, revoke it
      if (!(await store.ready(username))) await engine.revoke(username);
    }
  }

  /**
   * Every sweep: renews this copy's heartbeat, revokes what copies that died left pooled and what waited longer than
   * `maxWaitSeconds`, then refills.
   */
  async maintain(): Promise<void> {
    if (this.#closed || this.#settings.size === 0) return;
    const { store, heartbeatGraceSeconds } = this.#deps;
    await store.heartbeat(this.owner);
    for (const row of await store.due({ graceSeconds: heartbeatGraceSeconds })) await this.#withdraw(row);
    for (const [connection, { maxWaitSeconds }] of this.#settings) {
      for (const row of await store.due({ connection, maxWaitSeconds })) await this.#withdraw(row);
      this.refill(connection);
    }
  }

  /** Stops refilling and revokes every credential this copy pooled. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    for (const row of await this.#deps.store.due({ owner: this.owner })) await this.#withdraw(row);
  }

  async #withdraw({ connection, username }: { connection: string; username: string }): Promise<void> {
    const engine = this.#deps.engines.get(connection);
    // a connection this copy has no usable engine for: a copy that has one (or reconciliation) revokes it
    if (!engine) return;
    try {
      await this.#deps.store.withdraw(username, () => engine.revoke(username));
    } catch (err) {
      // the row stays: the next sweep tries again
      this.#deps.logger.error({ connection, err: errorText(err) }, 'revoking a pooled credential failed; retried on the next sweep');
    }
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
