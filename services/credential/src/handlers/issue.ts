import { randomBytes, randomUUID } from 'node:crypto';
import type { Connection } from '@airlock/config';
import { credentialV1 } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { Authorize } from '../authorize.js';
import { engineFor } from '../engine-for.js';
import type { CredentialParts } from '../parts.js';

const defaultPrefix = 'airlock_lease_';

export function rolePrefix(connection: Connection): string {
  return connection.leases?.rolePrefix ?? defaultPrefix;
}

/** `credential.v1.issue`: mints a lease only for what a signed decision allows, once. */
export function serveIssue(parts: CredentialParts, authorize: Authorize): void {
  const { bus, config, logger, store, events } = parts;
  bus.serve(credentialV1.issueLease, async (req, ctx) => {
    const connection = config.connections[req.connection];
    if (!connection) throw new AirlockError('credential.unknown_connection', `connection "${req.connection}" is not configured`);
    const refuse = (reason: string): AirlockError => {
      logger.error({ connection: req.connection, role: req.scope.role, subject: req.principal.subject, reason }, 'refused to mint a credential without a valid signed decision');
      events.emit(
        credentialV1.credentialRefused,
        { connection: req.connection, role: req.scope.role, subject: req.principal.subject, reason, sessionId: req.sessionId, requestId: req.requestId },
        ctx,
      );
      return new AirlockError('credential.untrusted_decision', `no credential minted: ${reason}`);
    };
    let decisionId: string;
    try {
      decisionId = await authorize(req, connection);
    } catch (err) {
      throw refuse(err instanceof Error ? err.message : String(err));
    }
    const engine = engineFor(parts.engines, req.connection);
    const maxTtl = connection.leases?.maxTtlSeconds ?? 8 * 3600;
    const ttl = Math.min(req.scope.ttlSeconds, maxTtl);
    const expiresAt = new Date(Date.now() + ttl * 1000);
    const prefix = rolePrefix(connection);
    // unguessable: 80 random bits after the fixed prefix
    const suffix = randomBytes(10).toString('hex');
    const username = engine.type === 'snowflake' ? `${prefix}${suffix}`.toUpperCase() : `${prefix}${suffix}`;
    const leaseId = randomUUID();
    const recorded = await store.insertPending({
      id: leaseId,
      connection: req.connection,
      username,
      role: req.scope.role,
      mode: req.scope.leaseMode,
      subject: req.principal.subject,
      holder: req.holder,
      session_id: req.sessionId,
      request_id: req.requestId,
      expires_at: expiresAt,
      decision_id: decisionId,
    });
    if (!recorded) throw refuse('the policy decision was already used for a lease (a replay)');
    let upstream: credentialV1.LeaseGrant['upstream'];
    try {
      upstream = await bus.tracing.run('mint', ctx, { attributes: { 'airlock.connection': req.connection, 'airlock.lease.mode': req.scope.leaseMode } }, async () => {
        const timer = parts.mintSeconds.startTimer({ connection: req.connection });
        try {
          const made = await engine.mint({ username, role: req.scope.role, expiresAt });
          timer({ outcome: 'ok' });
          return made;
        } catch (err) {
          timer({ outcome: 'failed' });
          throw err;
        }
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.error({ connection: req.connection, leaseId, err: message }, 'minting a credential failed');
      // it may exist half-made: revoke whatever is there
      void parts.revoke(leaseId, 'mint-failed', ctx);
      throw new AirlockError('credential.mint_failed', `could not mint a credential on connection "${req.connection}"; retry shortly or tell the operator`);
    }
    await store.activate(leaseId);
    await bus.publish(
      credentialV1.credentialIssued,
      {
        lease: {
          leaseId,
          connection: req.connection,
          username,
          role: req.scope.role,
          mode: req.scope.leaseMode,
          subject: req.principal.subject,
          holder: req.holder,
          expiresAt: expiresAt.toISOString(),
        },
        sessionId: req.sessionId,
        requestId: req.requestId,
      },
      ctx,
    );
    return { leaseId, connection: req.connection, username, expiresAt: expiresAt.toISOString(), upstream };
  });
}
