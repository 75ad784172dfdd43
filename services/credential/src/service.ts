import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { expandEnv, type AirlockConfig, type Connection } from '@airlock/config';
import { approvalV1, credentialV1, policyV1 } from '@airlock/contracts';
import { Value } from '@sinclair/typebox/value';
import { AirlockError, EventPublisher, Counter, Gauge, Histogram, Registry, TrustedKeys, createHttpServer, latencyBuckets, newContext, tokenKinds, type Bus, type CallContext, type Logger } from '@airlock/runtime';
import type { CredentialEngine } from './engines/engine.js';
import { PostgresEngine, defaultLeftovers } from './engines/postgres.js';
import { SnowflakeEngine, oauthSigner, type OAuthSigner } from './engines/snowflake.js';
import { loadOrCreateOAuthKey } from './store/oauth-keys.js';
import type { FastifyInstance } from 'fastify';
import { LeaseStore, migrateLeases } from './store/leases.js';
import type { CredentialEnv } from './config.js';

export interface CredentialDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
  settings: Pick<CredentialEnv, 'sweepSeconds' | 'heartbeatGraceSeconds' | 'irrevocableAfter' | 'httpHost' | 'httpPort'> &
    Partial<Pick<CredentialEnv, 'pendingGraceSeconds'>>;
  /** the environment the config file's `${VAR}` references expand from: only this service sees admin secrets */
  env: Record<string, string | undefined>;
  /** the service's Prometheus registry */
  metrics?: Registry;
}

export interface CredentialService {
  engines: ReadonlyMap<string, CredentialEngine>;
  /** the HTTP server that serves the External-OAuth JWKS, when a connection uses that strategy */
  http: FastifyInstance | undefined;
  revoke(leaseId: string, reason: string, ctx?: CallContext): Promise<credentialV1.LeaseState>;
  sweep(): Promise<void>;
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

const defaultPrefix = 'airlock_lease_';

export function rolePrefix(connection: Connection): string {
  return connection.leases?.rolePrefix ?? defaultPrefix;
}

/** Mints, records and revokes leases; the only holder of each connection's admin principal. */
export async function startCredential(deps: CredentialDeps): Promise<CredentialService> {
  const { bus, config, logger } = deps;
  await migrateLeases(deps.pool);
  const store = new LeaseStore(deps.pool);
  // revocation events are retried until stored: a NATS outage while revoking must not lose them
  const events = new EventPublisher(bus, logger);
  const engines = new Map<string, CredentialEngine>();
  const needsOAuth = Object.values(config.connections).some((c) => c.type === 'snowflake' && c.strategy === 'external-oauth');
  let signer: OAuthSigner | undefined;
  let http: FastifyInstance | undefined;
  if (needsOAuth) {
    const key = await loadOrCreateOAuthKey(deps.pool, deps.env);
    signer = oauthSigner(key.privateJwk, key.publicJwk);
    http = createHttpServer({ logger });
    for (const [name, conn] of Object.entries(config.connections)) {
      if (conn.type !== 'snowflake' || conn.strategy !== 'external-oauth') continue;
      const s = signer;
      http.get(conn.externalOAuth?.jwksPath ?? `/snowflake/${name}/jwks.json`, async () => s.jwks());
    }
    await http.listen({ host: deps.settings.httpHost, port: deps.settings.httpPort });
  }
  for (const [name, conn] of Object.entries(config.connections)) {
    try {
      if (conn.type === 'postgres') {
        engines.set(
          name,
          new PostgresEngine(expandEnv(conn.adminUrl, deps.env), {
            leftovers: conn.leases?.leftovers ?? defaultLeftovers.leftovers,
            leftoverRole: conn.leases?.leftoverRole ?? defaultLeftovers.leftoverRole,
          }, conn.tls),
        );
      }
      else engines.set(name, new SnowflakeEngine(conn, deps.env, signer));
    } catch (err) {
      logger.error({ connection: name, err: err instanceof Error ? err.message : String(err) }, 'connection admin settings are unusable');
    }
  }

  const engineFor = (connection: string): CredentialEngine => {
    const engine = engines.get(connection);
    if (!engine) throw new AirlockError('credential.unknown_connection', `connection "${connection}" has no credential engine; check its admin settings`);
    return engine;
  };

  const { tracing } = bus;
  const registers = [deps.metrics ?? new Registry()];
  const mintSeconds = new Histogram({
    name: 'airlock_credential_mint_duration_seconds',
    help: 'Time to create one ephemeral credential upstream, by connection and outcome (ok, failed)',
    labelNames: ['connection', 'outcome'],
    buckets: latencyBuckets,
    registers,
  });
  const revokeSeconds = new Histogram({
    name: 'airlock_credential_revoke_duration_seconds',
    help: 'Time to revoke one lease upstream (disable, end its sessions, drop), by connection and outcome (revoked, failed)',
    labelNames: ['connection', 'outcome'],
    buckets: latencyBuckets,
    registers,
  });
  const revocationFailures = new Counter({
    name: 'airlock_credential_revocation_failures_total',
    help: 'Revocation attempts that failed and will be retried, by connection',
    labelNames: ['connection'],
    registers,
  });
  new Gauge({
    name: 'airlock_credential_leases_live',
    help: 'Leases not yet revoked, by connection and state, read from the lease table that every copy shares (aggregate with max, not sum)',
    labelNames: ['connection', 'state'],
    registers,
    async collect() {
      // read at scrape time: the table, not this copy's memory, knows what every copy minted
      const { rows } = await deps.pool.query<{ connection: string; state: string; n: number }>(
        `SELECT connection, state, count(*)::int AS n FROM leases WHERE state <> 'revoked' GROUP BY 1, 2`,
      );
      this.reset();
      for (const name of Object.keys(config.connections)) this.set({ connection: name, state: 'active' }, 0);
      for (const r of rows) this.set({ connection: r.connection, state: r.state }, r.n);
    },
  });

  const revoke = (leaseId: string, reason: string, ctx: CallContext = newContext()): Promise<credentialV1.LeaseState> =>
    tracing.run('revoke', ctx, {}, async (span) => {
      const state = await revokeOnce(leaseId, reason, span.ctx);
      span.set({ 'airlock.lease.state': state });
      return state;
    });

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
      revokeSeconds.observe({ connection: lease.connection, outcome: 'revoked' }, (performance.now() - started) / 1000);
      logger.info({ leaseId, connection: lease.connection, reason, ms: Math.round(performance.now() - started) }, 'lease revoked');
      return 'revoked';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      revokeSeconds.observe({ connection: lease.connection, outcome: 'failed' }, (performance.now() - started) / 1000);
      revocationFailures.inc({ connection: lease.connection });
      const { attempts, irrevocable } = await store.recordFailure(leaseId, reason, message, deps.settings.irrevocableAfter);
      logger.error({ leaseId, connection: lease.connection, attempts, irrevocable, err: message }, 'lease revocation failed; it will be retried');
      events.emit(
        credentialV1.credentialRevokeFailed,
        { leaseId, connection: lease.connection, username: lease.username, attempt: attempts, error: message.slice(0, 300), irrevocable, sessionId: lease.session_id },
        ctx,
      );
      return irrevocable ? 'irrevocable' : 'revoking';
    }
  };

  const decisionKeys = new TrustedKeys(bus, policyV1.keys, tokenKinds.decision);
  const grantKeys = new TrustedKeys(bus, approvalV1.keys, tokenKinds.grant);

  /**
   * Whether policy decided exactly this lease: a valid decision signed by the policy service for this principal,
   * session, connection and scope, for a role the connection configures, and (when it required approval) a grant
   * signed by the approval service for that decision. Returns the decision's id, which mints at most one lease.
   */
  const authorize = async (req: credentialV1.IssueLeaseRequest, connection: Connection): Promise<string> => {
    if (!Object.values(connection.roles).includes(req.scope.role)) {
      throw new Error(`role "${req.scope.role}" is not one of the roles connection "${req.connection}" configures`);
    }
    if (!req.decision) throw new Error('the request carries no signed policy decision');
    const claims = await decisionKeys.verify(req.decision).catch((err: Error) => {
      throw new Error(`the policy decision does not verify: ${err.message}`);
    });
    if (!Value.Check(policyV1.DecisionClaims, claims)) throw new Error('the policy decision has unexpected claims');
    const d = claims as policyV1.DecisionClaims;
    if (d.sub !== req.principal.subject || d.pis !== req.principal.issuer) throw new Error('the policy decision is for another principal');
    if (d.con !== req.connection || d.ses !== req.sessionId) throw new Error('the policy decision is for another connection or session');
    if (!d.scope || d.scope.role !== req.scope.role || d.scope.ttl !== req.scope.ttlSeconds || d.scope.mode !== req.scope.leaseMode) {
      throw new Error('the policy decision grants another scope');
    }
    if (d.out === 'deny') throw new Error('the policy decision refused the statement');
    if (d.out === 'approval-required') {
      if (!req.grant) throw new Error('the policy decision requires approval and the request carries no signed grant');
      const grant = await grantKeys.verify(req.grant).catch((err: Error) => {
        throw new Error(`the approval grant does not verify: ${err.message}`);
      });
      if (!Value.Check(approvalV1.GrantClaims, grant) || grant.dec !== d.jti) throw new Error('the approval grant is for another decision');
    }
    return d.jti;
  };

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
    const engine = engineFor(req.connection);
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
      upstream = await tracing.run('mint', ctx, { attributes: { 'airlock.connection': req.connection, 'airlock.lease.mode': req.scope.leaseMode } }, async () => {
        const timer = mintSeconds.startTimer({ connection: req.connection });
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
      void revoke(leaseId, 'mint-failed', ctx);
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

  bus.serve(credentialV1.revokeLease, async (req, ctx) => {
    await store.markReason(req.leaseId, req.reason);
    const state = await revoke(req.leaseId, req.reason, ctx);
    return { leaseId: req.leaseId, state };
  });

  bus.serve(credentialV1.heartbeat, async (req) => {
    const renewed = await store.heartbeat(req.holder, req.leaseIds);
    const set = new Set(renewed);
    return { renewed, unknown: req.leaseIds.filter((id) => !set.has(id)) };
  });

  bus.serve(credentialV1.upstreamSession, async (req) => {
    const { live, connection } = await store.addUpstreamSession(req.leaseId, req.upstreamSessionId);
    if (live) return { live: true };
    // the login raced the revocation (or the lease is unknown): the session is ended here, not left to the proxy
    const engine = connection ? engines.get(connection) : undefined;
    if (engine?.endSessions) await engine.endSessions([req.upstreamSessionId]);
    logger.warn({ leaseId: req.leaseId }, 'an upstream session opened under a lease no longer live was ended');
    return { live: false };
  });

  bus.serve(credentialV1.catalog, async (req) => {
    const engine = engineFor(req.connection);
    return { connection: req.connection, searchPath: engine.searchPath(), tables: await engine.catalog() };
  });

  const sweep = async (): Promise<void> => {
    const due = await store.due(deps.settings.heartbeatGraceSeconds, deps.settings.pendingGraceSeconds ?? 60);
    for (const { id, reason } of due) {
      await store.markReason(id, reason);
      await revoke(id, reason);
    }
  };

  const reconcile = async (): Promise<void> => {
    for (const [name, engine] of engines) {
      const connection = config.connections[name]!;
      const prefix = engine.type === 'snowflake' ? rolePrefix(connection).toUpperCase() : rolePrefix(connection);
      try {
        // The order of these reads closes the races with copies minting meanwhile: a lease row is written before its
        // credential is created and activated after, so a lease active before the listing has its credential in it,
        // and a credential in the listing has its row in the live set read after.
        const active = await store.activeLeases(name);
        const existing = await engine.listWithPrefix(prefix);
        const live = await store.liveUsernames(name);
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
  };

  await reconcile();
  let running = Promise.resolve();
  let ticks = 0;
  const timer = setInterval(() => {
    running = running
      .then(async () => {
        await sweep();
        ticks += 1;
        if (ticks % 12 === 0) await reconcile();
      })
      .catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'sweep failed'));
  }, deps.settings.sweepSeconds * 1000);
  timer.unref();

  return {
    engines,
    http,
    revoke,
    sweep,
    reconcile,
    close: async () => {
      clearInterval(timer);
      await running;
      await http?.close();
      await events.flush();
      for (const engine of engines.values()) await engine.close().catch(() => undefined);
    },
  };
}
