import { credentialV1 } from '@airlock/contracts';
import type { CredentialParts } from '../parts.js';

/**
 * `credential.v1.upstream-session`: the proxy records each upstream session opened under a lease, so that revoking the
 * lease ends it (External-OAuth leases share their Snowflake user, which cannot be disabled for one lease alone).
 */
export function serveUpstreamSession(parts: CredentialParts): void {
  const { bus, store, engines, logger } = parts;
  bus.serve(credentialV1.upstreamSession, async (req) => {
    const { live, connection } = await store.addUpstreamSession(req.leaseId, req.upstreamSessionId);
    if (live) return { live: true };
    // the login raced the revocation (or the lease is unknown): the session is ended here, not left to the proxy
    const engine = connection ? engines.get(connection) : undefined;
    if (engine?.endSessions) await engine.endSessions([req.upstreamSessionId]);
    logger.warn({ leaseId: req.leaseId }, 'an upstream session opened under a lease no longer live was ended');
    return { live: false };
  });
}
