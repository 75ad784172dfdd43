import { credentialV1 } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { CredentialParts } from '../parts.js';

/**
 * `credential.v1.standby`: pooled credentials a proxy opens its upstream connections under ahead of per-statement
 * leases. Each is a lease row (`standby`) from the moment it leaves the pool: heartbeated by the proxy, revoked when
 * its heartbeats stop, when it waited `maxWaitSeconds`, or after the one statement a lease takes it for.
 */
export function serveStandby(parts: CredentialParts): void {
  parts.bus.serve(credentialV1.standby, async (req, ctx) => {
    if (!parts.pool.has(req.connection) || !parts.engines.get(req.connection)?.standby) {
      throw new AirlockError('credential.unknown_connection', `connection "${req.connection}" keeps no pool of credentials to open connections under ahead`);
    }
    const standby = await parts.pool.standby(req.connection, req.holder, req.count, (leaseId, reason) => parts.revoke(leaseId, reason, ctx));
    if (standby.length > 0) parts.poolDraws.inc({ connection: req.connection, outcome: 'standby' }, standby.length);
    return { standby };
  });
}
