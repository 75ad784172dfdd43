import { randomUUID } from 'node:crypto';
import type { AirlockConfig } from '@airlock/config';
import type { credentialV1 } from '@airlock/contracts';
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
 * (its own role, expiry, revocation). Refills run in the background, a batch at a time, once draws leave the pool at
 * half its size or less, and on every sweep whatever its level; a drained pool means the lease
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
    const taken = await this.#deps.leases.insertFromPool(lease, settings.maxWaitSeconds);
    // refilled in batches, once down to half: one transaction and one CREATE message per batch, not per statement
    if (taken.left <= settings.size / 2) this.refill(connection);
    if ('orphan' in taken && taken.orphan !== undefined) {
      // a replay raced another request for the same decision and took a credential no table holds any more
      await this.#deps.engines.get(connection)!.revoke(taken.orphan).catch((err: unknown) =>
        this.#deps.logger.error({ connection, err: errorText(err) }, 'revoking a pooled credential a replay took failed; reconciliation removes it'),
      );
    }
    return taken;
  }

  /**
   * Standby leases for `holder` on up to `count` pooled credentials, each able to log in (one connection) and holding
   * no right, until `maxWaitSeconds` from now; none when the pool is drained. A batch the engine could not enable is
   * revoked whole. Starts a refill.
   */
  async standby(connection: string, holder: string, count: number, revoke: (leaseId: string, reason: string) => Promise<unknown>): Promise<credentialV1.LeaseGrant[]> {
    const settings = this.#settings.get(connection)!;
    const engine = this.#deps.engines.get(connection)!;
    const expiresAt = new Date(Date.now() + settings.maxWaitSeconds * 1000);
    const { taken, left } = await this.#deps.leases.insertStandby({ connection, holder, count, maxWaitSeconds: settings.maxWaitSeconds, expiresAt });
    if (left <= settings.size / 2) this.refill(connection);
    if (taken.length === 0 || !engine.standby) return [];
    let upstreams: Array<credentialV1.LeaseGrant['upstream']>;
    try {
      upstreams = await engine.standby(taken.map((t) => ({ username: t.username, expiresAt })));
    } catch (err) {
      for (const t of taken) await revoke(t.id, 'standby-failed');
      throw err;
    }
    return taken.map((t, i) => ({ leaseId: t.id, connection, username: t.username, expiresAt: expiresAt.toISOString(), upstream: upstreams[i]! }));
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
    const missing = size - (await store.count(connection));
    if (this.#closed || missing <= 0) return;
    // the same unguessable names leases minted on demand get
    const prefix = rolePrefix(config.connections[connection]!);
    const reserved = await store.reserve(connection, Array.from({ length: missing }, () => newUsername(engine.type, prefix)), this.owner, size);
    if (reserved.length === 0) return;
    try {
      await engine.createPooled!(reserved);
    } catch (err) {
      // a failed batch created none of them (one transaction): withdraw the rows, revoking whatever is there
      for (const username of reserved) await this.#withdraw({ connection, username });
      throw err;
    }
    // another copy took this copy for dead meanwhile and withdrew these rows: their roles are no one's
    for (const username of await store.ready(reserved)) await engine.revoke(username);
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
