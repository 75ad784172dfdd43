import type { AirlockConfig } from '@airlock/config';
import type { Bus, CallContext, Counter, EventPublisher, Histogram, Logger } from '@airlock/runtime';
import type { credentialV1 } from '@airlock/contracts';
import type { CredentialEngine } from './engines/engine.js';
import type { CredentialPool } from './pool.js';
import type { LeaseStore } from './store/leases.js';

/** What the credential service's handlers and loops share, built once by `startCredential`. */
export interface CredentialParts {
  bus: Bus;
  config: AirlockConfig;
  logger: Logger;
  store: LeaseStore;
  /** one per connection whose admin settings are usable */
  engines: ReadonlyMap<string, CredentialEngine>;
  /** revocation events are retried until stored: a NATS outage while revoking must not lose them */
  events: EventPublisher;
  mintSeconds: Histogram<'connection' | 'outcome'>;
  poolDraws: Counter<'connection' | 'outcome'>;
  /** credentials made ahead for per-statement leases, on connections with `leases.pool` */
  pool: CredentialPool;
  revoke(leaseId: string, reason: string, ctx?: CallContext): Promise<credentialV1.LeaseState>;
}
