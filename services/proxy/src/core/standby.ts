import { credentialV1, type ErrorCode } from '@airlock/contracts';
import { newContext, type Bus, type Logger } from '@airlock/runtime';
import { statementLimits, type AirlockConfig } from '@airlock/config';
import type { UpstreamConnection, UpstreamEngine } from '../engines/engine.js';
import type { LeaseKeeper } from './lease-keeper.js';

/** An upstream connection opened ahead under a standby lease: its credential can log in and holds no right. */
export interface Standby {
  lease: credentialV1.LeaseGrant;
  upstream: UpstreamConnection;
}

export interface StandbyDeps {
  bus: Bus;
  keeper: LeaseKeeper;
  logger: Logger;
  config: AirlockConfig;
  proxyId: string;
  engines: Partial<Record<'postgres' | 'snowflake', UpstreamEngine>>;
}

/** The error a lease request answers when its standby was revoked or expired: the statement mints without it. */
export const STANDBY_GONE: ErrorCode = 'credential.standby_gone';

/** How often a connection's set of standby connections is topped up besides after every take (a credential service restarting, a pool drained). */
const TOP_UP_MS = 2000;

/**
 * Upstream connections this proxy opens ahead for per-statement leases (`leases.pool.open` per connection), each under
 * a standby lease: a pooled credential that can log in (one connection) and holds no right until a statement's lease
 * takes it, which then only grants it the statement's role. The proxy heartbeats each like any lease it holds, so a
 * crash of the proxy lets the credential service revoke them; they are revoked at shutdown, and the credential service
 * revokes one that waited `leases.pool.maxWaitSeconds`, which closes its connection here.
 */
export class StandbyConnections {
  readonly #deps: StandbyDeps;
  readonly #targets = new Map<string, number>();
  readonly #ready = new Map<string, Standby[]>();
  /** the running top-up of each connection: one at a time */
  readonly #filling = new Map<string, Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(deps: StandbyDeps) {
    this.#deps = deps;
    for (const [name, connection] of Object.entries(deps.config.connections)) {
      const open = connection.type === 'postgres' ? (connection.leases?.pool?.open ?? 0) : 0;
      if (open > 0 && deps.engines.postgres) {
        this.#targets.set(name, open);
        this.#ready.set(name, []);
      }
    }
    this.#timer = setInterval(() => this.topUp(), TOP_UP_MS);
    this.#timer.unref();
  }

  /** Starts opening connections for every connection that keeps some ahead. */
  topUp(): void {
    for (const connection of this.#targets.keys()) this.#fill(connection);
  }

  /** A standby connection of `connection`, no longer in the set, or undefined when none is open; starts a top-up when half are used. */
  take(connection: string): Standby | undefined {
    const ready = this.#ready.get(connection);
    if (!ready) return undefined;
    let found: Standby | undefined;
    while (!found && ready.length > 0) {
      const next = ready.shift()!;
      if (next.upstream.closed) void this.#retire(next, 'standby-closed');
      else found = next;
    }
    // topped up in batches, once down to half (or out): one request, one transaction and one message of grants per
    // batch, not per statement
    if (ready.length <= this.#targets.get(connection)! / 2) this.#fill(connection);
    return found;
  }

  /** Resolves when no top-up is running. */
  async settled(): Promise<void> {
    while (this.#filling.size > 0) await Promise.all([...this.#filling.values()]);
  }

  #fill(connection: string): void {
    if (this.#closed || this.#filling.has(connection)) return;
    const run = this.#open(connection)
      .catch((err: unknown) => this.#deps.logger.warn({ connection, err: errorText(err) }, 'opening standby connections failed; retried shortly'))
      .finally(() => this.#filling.delete(connection));
    this.#filling.set(connection, run);
  }

  async #open(connection: string): Promise<void> {
    const ready = this.#ready.get(connection)!;
    const missing = this.#targets.get(connection)! - ready.length;
    if (missing <= 0) return;
    const { bus, keeper, proxyId, engines } = this.#deps;
    const { standby } = await bus.call(credentialV1.standby, { connection, holder: this.#deps.proxyId, count: missing }, newContext(), { timeoutMs: 20_000 });
    await Promise.all(
      standby.map(async (lease) => {
        keeper.hold(lease.leaseId, () => this.#lost(connection, lease.leaseId));
        let upstream: UpstreamConnection;
        try {
          // opened with the statement timeout policy gives every statement on the connection: the statement that
          // takes it sets none of its own (a round trip less)
          upstream = await engines.postgres!.connect(lease, { applicationName: `airlock:${proxyId}`, timeoutMs: statementLimits(this.#deps.config.connections[connection]).timeoutMs });
        } catch (err) {
          this.#deps.logger.warn({ connection, leaseId: lease.leaseId, err: errorText(err) }, 'opening a standby connection failed');
          await this.#revoke(lease.leaseId, 'connect-failed');
          return;
        }
        try {
          await upstream.warm?.();
        } catch (err) {
          this.#deps.logger.warn({ connection, leaseId: lease.leaseId, err: errorText(err) }, 'readying a standby connection failed');
          await this.#retire({ lease, upstream }, 'connect-failed');
          return;
        }
        if (this.#closed) await this.#retire({ lease, upstream }, 'proxy-shutdown');
        else ready.push({ lease, upstream });
      }),
    );
  }

  /** revoked behind the proxy's back (expired, an operator): its connection is closed and it leaves the set */
  #lost(connection: string, leaseId: string): void {
    const ready = this.#ready.get(connection)!;
    const i = ready.findIndex((s) => s.lease.leaseId === leaseId);
    if (i < 0) return;
    const [gone] = ready.splice(i, 1);
    void gone!.upstream.close().catch(() => undefined);
  }

  async #retire(standby: Standby, reason: string): Promise<void> {
    await standby.upstream.close().catch(() => undefined);
    await this.#revoke(standby.lease.leaseId, reason);
  }

  async #revoke(leaseId: string, reason: string): Promise<void> {
    this.#deps.keeper.release(leaseId);
    try {
      await this.#deps.bus.call(credentialV1.revokeLease, { leaseId, reason }, newContext(), { timeoutMs: 30_000 });
    } catch (err) {
      // no longer heartbeated: the credential service's sweep revokes it
      this.#deps.logger.warn({ leaseId, err: errorText(err) }, 'revoking a standby lease failed; the sweeper will revoke it');
    }
  }

  /** Stops opening connections, closes those open and revokes their leases. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.settled();
    const all = [...this.#ready.values()].flatMap((list) => list.splice(0));
    await Promise.all(all.map((s) => this.#retire(s, 'proxy-shutdown')));
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
