import { randomBytes, randomUUID } from 'node:crypto';
import type { Connection } from '@airlock/config';
import { credentialV1 } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { Authorize } from '../authorize.js';
import type { CredentialEngine } from '../engines/engine.js';
import { engineFor } from '../engine-for.js';
import type { CredentialParts } from '../parts.js';

const defaultPrefix = 'airlock_lease_';

export function rolePrefix(connection: Connection): string {
  return connection.leases?.rolePrefix ?? defaultPrefix;
}

/** A credential's name: unguessable, 80 random bits after the fixed prefix (Snowflake names in upper case). */
export function newUsername(type: CredentialEngine['type'], prefix: string): string {
  const name = `${prefix}${randomBytes(10).toString('hex')}`;
  return type === 'snowflake' ? name.toUpperCase() : name;
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
    const leaseId = randomUUID();
    const pending = {
      id: leaseId,
      connection: req.connection,
      role: req.scope.role,
      mode: req.scope.leaseMode,
      subject: req.principal.subject,
      holder: req.holder,
      session_id: req.sessionId,
      request_id: req.requestId,
      expires_at: expiresAt,
      decision_id: decisionId,
    };
    const issued = (leaseId: string, username: string) =>
      bus.publish(
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
    if (req.standby !== undefined) {
      // the proxy holds a connection open under a standby credential: the lease takes it, and only grants it its role
      if (req.scope.leaseMode !== 'statement' || !engine.grantStandby) {
        throw new AirlockError('credential.standby_gone', 'a standby credential serves only a per-statement lease on a connection that keeps a pool; mint without it');
      }
      const { id: _id, ...lease } = pending;
      const took = await store.takeStandby(req.standby, lease);
      if ('replayed' in took) throw refuse('the policy decision was already used for a lease (a replay)');
      if ('gone' in took) throw new AirlockError('credential.standby_gone', 'the standby credential was revoked or expired meanwhile; mint without it');
      parts.poolDraws.inc({ connection: req.connection, outcome: 'standby-taken' });
      // the lease is recorded active: its issued event goes out while the role is granted, one wait instead of two (a
      // grant that fails revokes the lease, and its revoked event follows)
      const announced = issued(req.standby, took.username);
      // awaited below on either path; handled here so that a failure while the grant still runs is not unhandled
      announced.catch(() => undefined);
      let target: credentialV1.LeaseGrant['upstream'];
      try {
        target = await bus.tracing.run('mint', ctx, { attributes: { 'airlock.connection': req.connection, 'airlock.lease.mode': 'statement', 'airlock.lease.pooled': true } }, () =>
          engine.grantStandby!({ username: took.username, role: req.scope.role, expiresAt }),
        );
      } catch (err) {
        logger.error({ connection: req.connection, leaseId: req.standby, err: err instanceof Error ? err.message : String(err) }, 'granting a standby credential its role failed');
        await announced.catch(() => undefined);
        void parts.revoke(req.standby, 'mint-failed', ctx);
        throw new AirlockError('credential.mint_failed', `could not mint a credential on connection "${req.connection}"; retry shortly or tell the operator`);
      }
      await announced;
      return { leaseId: req.standby, connection: req.connection, username: took.username, expiresAt: expiresAt.toISOString(), upstream: target };
    }
    // a per-statement lease takes a credential made ahead when the connection pools them
    const taken = req.scope.leaseMode === 'statement' && parts.pool.has(req.connection) ? await parts.pool.take(req.connection, pending) : undefined;
    if (taken && 'replayed' in taken) throw refuse('the policy decision was already used for a lease (a replay)');
    const pooled = taken && 'username' in taken ? taken.username : undefined;
    if (taken) parts.poolDraws.inc({ connection: req.connection, outcome: pooled !== undefined ? 'pooled' : 'drained' });
    const username = pooled ?? newUsername(engine.type, rolePrefix(connection));
    if (pooled === undefined && !(await store.insertPending({ ...pending, username }))) throw refuse('the policy decision was already used for a lease (a replay)');
    let upstream: credentialV1.LeaseGrant['upstream'];
    try {
      upstream = await bus.tracing.run('mint', ctx, { attributes: { 'airlock.connection': req.connection, 'airlock.lease.mode': req.scope.leaseMode, 'airlock.lease.pooled': pooled !== undefined } }, async () => {
        const timer = parts.mintSeconds.startTimer({ connection: req.connection });
        try {
          const input = { username, role: req.scope.role, expiresAt };
          const made = pooled !== undefined ? await engine.mintPooled!(input) : await engine.mint(input);
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
    // the lease is durably recorded already (pending, or active when it took a pooled credential): its activation and
    // the issued event go out together, one wait instead of two
    await Promise.all([
      pooled === undefined ? store.activate(leaseId) : undefined,
      issued(leaseId, username),
    ]);
    return { leaseId, connection: req.connection, username, expiresAt: expiresAt.toISOString(), upstream };
  });
}
