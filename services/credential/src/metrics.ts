import type pg from 'pg';
import type { AirlockConfig } from '@airlock/config';
import { Counter, Gauge, Histogram, latencyBuckets, type Registry } from '@airlock/runtime';

export interface CredentialMetrics {
  mintSeconds: Histogram<'connection' | 'outcome'>;
  revokeSeconds: Histogram<'connection' | 'outcome'>;
  revocationFailures: Counter<'connection'>;
  poolDraws: Counter<'connection' | 'outcome'>;
}

export function credentialMetrics(registry: Registry, pool: pg.Pool, config: AirlockConfig): CredentialMetrics {
  const registers = [registry];
  new Gauge({
    name: 'airlock_credential_leases_live',
    help: 'Leases not yet revoked, by connection and state, read from the lease table that every copy shares (aggregate with max, not sum)',
    labelNames: ['connection', 'state'],
    registers,
    async collect() {
      // read at scrape time: the table, not this copy's memory, knows what every copy minted
      const { rows } = await pool.query<{ connection: string; state: string; n: number }>(
        `SELECT connection, state, count(*)::int AS n FROM leases WHERE state <> 'revoked' GROUP BY 1, 2`,
      );
      this.reset();
      for (const name of Object.keys(config.connections)) this.set({ connection: name, state: 'active' }, 0);
      for (const r of rows) this.set({ connection: r.connection, state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'airlock_credential_pooled',
    help: 'Credentials made ahead for per-statement leases, by connection and state (ready, creating), read from the table every copy shares (aggregate with max, not sum)',
    labelNames: ['connection', 'state'],
    registers,
    async collect() {
      const { rows } = await pool.query<{ connection: string; state: string; n: number }>(
        `SELECT connection, state, count(*)::int AS n FROM pooled_credentials GROUP BY 1, 2`,
      );
      this.reset();
      for (const r of rows) this.set({ connection: r.connection, state: r.state }, r.n);
    },
  });
  return {
    mintSeconds: new Histogram({
      name: 'airlock_credential_mint_duration_seconds',
      help: 'Time to create one ephemeral credential upstream, by connection and outcome (ok, failed)',
      labelNames: ['connection', 'outcome'],
      buckets: latencyBuckets,
      registers,
    }),
    revokeSeconds: new Histogram({
      name: 'airlock_credential_revoke_duration_seconds',
      help: 'Time to revoke one lease upstream (disable, end its sessions, drop), by connection and outcome (revoked, failed)',
      labelNames: ['connection', 'outcome'],
      buckets: latencyBuckets,
      registers,
    }),
    poolDraws: new Counter({
      name: 'airlock_credential_pool_draws_total',
      help: 'Per-statement leases on a connection with a pool, by connection and outcome (pooled: a credential made ahead; drained: minted on demand; standby: credentials handed to a proxy to open connections under ahead; standby-taken: a lease on such a connection)',
      labelNames: ['connection', 'outcome'],
      registers,
    }),
    revocationFailures: new Counter({
      name: 'airlock_credential_revocation_failures_total',
      help: 'Revocation attempts that failed and will be retried, by connection',
      labelNames: ['connection'],
      registers,
    }),
  };
}
