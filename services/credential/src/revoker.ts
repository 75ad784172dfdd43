import { credentialV1 } from '@airlock/contracts';
import { AirlockError, newContext, type CallContext, type EventPublisher, type Logger, type Tracing } from '@airlock/runtime';
import type { CredentialEngine } from './engines/engine.js';
import type { CredentialMetrics } from './metrics.js';
import type { LeaseStore } from './store/leases.js';

export interface RevokerDeps {
  store: LeaseStore;
  engines: ReadonlyMap<string, CredentialEngine>;
  events: EventPublisher;
  logger: Logger;
  tracing: Tracing;
  metrics: CredentialMetrics;
  /** failed attempts before a lease is marked irrevocable (an alert) */
  irrevocableAfter: number;
}

/**
 * The one path that ends a lease: disables the login, ends its sessions and drops it under the row lock, then says
 * so in an event. A failure is recorded and retried by the sweep; copies never revoke the same lease at once.
 */
export function revoker(deps: RevokerDeps): (leaseId: string, reason: string, ctx?: CallContext) => Promise<credentialV1.LeaseState> {
  const { store, engines, events, logger, metrics } = deps;
  const revokeOnce = async (leaseId: string, reason: string, ctx: CallContext): Promise<credentialV1.LeaseState> => {
    const started = performance.now();
    const lease = await store.get(leaseId);
    if (!lease) throw new AirlockError('credential.lease_not_found', `lease ${leaseId} does not exist`);
    if (lease.state === 'revoked') return 'revoked';
    const engine = engines.get(lease.connection);
    try {
      if (!engine) throw new Error(`no engine for connection ${lease.connection}`);
      const result = await store.withLock(leaseId, (l) => engine.revoke(l.username, l.upstream_sessions));
      if (result === undefined) {
        // another copy holds the lock and is revoking it now, or it was revoked meanwhile
        const now = await store.get(leaseId);
        return now?.state === 'revoked' ? 'revoked' : 'revoking';
      }
      events.emit(
        credentialV1.credentialRevoked,
        {
          leaseId,
          connection: lease.connection,
          username: lease.username,
          reason,
          terminatedSessions: result.terminatedSessions,
          attempts: lease.revoke_attempts + 1,
          durationMs: performance.now() - started,
          sessionId: lease.session_id,
          requestId: ctx.requestId,
        },
        ctx,
      );
      metrics.revokeSeconds.observe({ connection: lease.connection, outcome: 'revoked' }, (performance.now() - started) / 1000);
      logger.info({ leaseId, connection: lease.connection, reason, ms: Math.round(performance.now() - started) }, 'lease revoked');
      return 'revoked';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      metrics.revokeSeconds.observe({ connection: lease.connection, outcome: 'failed' }, (performance.now() - started) / 1000);
      metrics.revocationFailures.inc({ connection: lease.connection });
      const { attempts, irrevocable } = await store.recordFailure(leaseId, reason, message, deps.irrevocableAfter);
      logger.error({ leaseId, connection: lease.connection, attempts, irrevocable, err: message }, 'lease revocation failed; it will be retried');
      events.emit(
        credentialV1.credentialRevokeFailed,
        { leaseId, connection: lease.connection, username: lease.username, attempt: attempts, error: message.slice(0, 300), irrevocable, sessionId: lease.session_id },
        ctx,
      );
      return irrevocable ? 'irrevocable' : 'revoking';
    }
  };
  return (leaseId, reason, ctx = newContext()) =>
    deps.tracing.run('revoke', ctx, {}, async (span) => {
      const state = await revokeOnce(leaseId, reason, span.ctx);
      span.set({ 'airlock.lease.state': state });
      return state;
    });
}
