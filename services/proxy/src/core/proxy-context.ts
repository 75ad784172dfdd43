import type { AirlockConfig } from '@airlock/config';
import type { Bus, EventPublisher, Logger, TrustedKeys } from '@airlock/runtime';
import type { UpstreamEngine } from '../engines/engine.js';
import type { ReuseEpoch } from './decision-reuse.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { ProxyMetrics } from './result-pipe.js';
import type { StandbyConnections } from './standby.js';

/** What every session of this proxy instance shares. */
export interface ProxyContext {
  bus: Bus;
  metrics?: ProxyMetrics;
  config: AirlockConfig;
  logger: Logger;
  events: EventPublisher;
  keeper: LeaseKeeper;
  /** this proxy instance: the holder of its leases */
  proxyId: string;
  hashKey: string;
  /** how to reach each kind of upstream */
  engines: Partial<Record<'postgres' | 'snowflake', UpstreamEngine>>;
  /** the policy service's public keys: a decision is acted on only when its signature and claims hold */
  decisions: TrustedKeys;
  /** advanced when policy announces another epoch: every session stops reusing decisions made before */
  reuseEpoch: ReuseEpoch;
  /** upstream connections opened ahead under standby leases, for per-statement leases (`leases.pool.open`) */
  standby?: StandbyConnections;
}
