import { credentialV1 } from '@airlock/contracts';
import { rolePrefix } from './handlers/issue.js';
import type { CredentialParts } from './parts.js';

export interface SweepSettings {
  heartbeatGraceSeconds: number;
  pendingGraceSeconds: number;
}

/** Revokes the leases that are due: expired, heartbeat lost, abandoned while minting, or a failed revocation to retry. */
export async function sweep(parts: CredentialParts, settings: SweepSettings): Promise<void> {
  const due = await parts.store.due(settings.heartbeatGraceSeconds, settings.pendingGraceSeconds);
  for (const { id, reason } of due) {
    await parts.store.markReason(id, reason);
    await parts.revoke(id, reason);
  }
}

/**
 * Makes each connection's credentials and the lease table agree: a credential without a live lease is revoked, and a
 * live lease whose credential is gone is closed.
 */
export async function reconcile(parts: CredentialParts): Promise<void> {
  const { store, logger, events, config } = parts;
  for (const [name, engine] of parts.engines) {
    const connection = config.connections[name]!;
    const prefix = engine.type === 'snowflake' ? rolePrefix(connection).toUpperCase() : rolePrefix(connection);
    try {
      // The order of these reads closes the races with copies minting meanwhile: a lease row is written before its
      // credential is created and activated after, so a lease active before the listing has its credential in it,
      // and a credential in the listing has its row in the live set read after. A pooled credential's row is written
      // before it is created too, and becomes its lease's row in one statement: the live set holds it either way.
      const active = await store.activeLeases(name);
      const existing = await engine.listWithPrefix(prefix);
      const live = await store.liveUsernames();
      for (const username of existing) {
        if (live.has(username)) continue;
        logger.warn({ connection: name }, 'found an ephemeral credential without a live lease; revoking it');
        await engine.revoke(username);
      }
      const present = new Set(existing);
      for (const lease of active) {
        if (present.has(lease.username)) continue;
        const closed = await store.closeMissing(lease.id);
        if (!closed) continue;
        logger.warn({ connection: name, leaseId: lease.id }, 'a live lease had lost its credential; closed it');
        events.emit(credentialV1.credentialRevoked, {
          leaseId: closed.id,
          connection: name,
          username: closed.username,
          reason: 'credential-missing',
          terminatedSessions: 0,
          attempts: closed.revoke_attempts,
          durationMs: 0,
          sessionId: closed.session_id,
        });
      }
    } catch (err) {
      logger.error({ connection: name, err: err instanceof Error ? err.message : String(err) }, 'reconciliation failed; retried on the next sweep');
    }
  }
}
