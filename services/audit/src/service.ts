import type pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { Registry, createHttpServer, httpDoorTls, type Bus, type Logger, type Signer } from '@airlock/runtime';
import { Integrity } from './integrity.js';
import { AuditStore, migrateAudit } from './store/events.js';
import { SessionStore } from './store/sessions.js';
import { startForwarder, type Forwarder, type ForwarderSettings } from './forwarder.js';
import { consumeEvents } from './handlers/append.js';
import { eventRoutes } from './handlers/events.js';
import { serveKeys } from './handlers/keys.js';
import { sessionRoutes } from './handlers/sessions.js';
import { verifyRoutes } from './handlers/verify.js';
import { identityAuthenticator, readerCheck, type Authenticate } from './readers.js';

export interface AuditDeps {
  bus: Bus;
  pool: pg.Pool;
  logger: Logger;
  /** `tls`/`allowInsecureNonLoopback`: the config's `http` section */
  http: { host: string; port: number; tls?: { certPath: string; keyPath: string } | undefined; allowInsecureNonLoopback?: boolean | undefined };
  /** verifies a reader's bearer token and returns its groups; by default the identity service's verify over the bus */
  authenticate?: Authenticate;
  readerGroups: string[];
  durableName?: string;
  /** events appended per transaction at most (1000 by default) */
  batchSize?: number;
  /** false when the schema is managed by an owner account (the service then needs only the writer role) */
  migrate?: boolean;
  /** forward every event to a webhook as OCSF JSON */
  forward?: ForwarderSettings;
  /** the service's Prometheus registry */
  metrics?: Registry;
  /** the chain's HMAC key: held by the audit service alone, never in the database */
  chainKey: Buffer;
  /** the audit service's signing keys, for checkpoints */
  signer: Signer;
  /** where signed checkpoints are appended (one JSON line each), and how often the head is checkpointed */
  checkpoint: { file: string; seconds: number };
}

export interface AuditService {
  store: AuditStore;
  integrity: Integrity;
  sessions: SessionStore;
  http: FastifyInstance;
  port: number;
  forwarder: Forwarder | undefined;
  close(): Promise<void>;
}

/** Writes every lifecycle event, exactly once and in stream order, to the hash-chained audit table; serves reads. */
export async function startAudit(deps: AuditDeps): Promise<AuditService> {
  // before anything starts: an API that would take tokens in clear text beyond loopback never opens
  const tls = httpDoorTls({ door: 'audit API', host: deps.http.host, settings: deps.http, logger: deps.logger });
  if (deps.migrate !== false) await migrateAudit(deps.pool);
  const store = new AuditStore(deps.pool, deps.chainKey);
  const foreign = await store.foreignHeads();
  if (foreign.length > 0) {
    // appended to, the chain would hold rows of two keys and no key would verify it whole: said before the first append
    deps.logger.error(
      { partitions: foreign },
      'the audit table was written with another chain key: audit verify will name its rows as altered. Restore the key that wrote them (AIRLOCK_AUDIT_CHAIN_KEY_FILE), or export the log and start on a new state database (docs/audit.md)',
    );
  }
  const durable = deps.durableName ?? 'airlock-audit';
  const integrity = new Integrity({ bus: deps.bus, store, signer: deps.signer, logger: deps.logger, checkpointFile: deps.checkpoint.file, durable });
  serveKeys(deps.bus, deps.signer);
  const sessions = new SessionStore(deps.pool);
  await consumeEvents(deps.bus, deps.logger, { store, integrity, registry: deps.metrics ?? new Registry(), durableName: deps.durableName, maxBatch: deps.batchSize ?? 1000 });
  const forwarder = deps.forward ? await startForwarder(deps.bus, deps.logger, deps.forward) : undefined;

  const http = createHttpServer({ logger: deps.logger, ...(tls ? { tls } : {}) });
  http.addHook('onClose', async () => tls?.close());
  const reader = readerCheck(deps.authenticate ?? identityAuthenticator(deps.bus), deps.readerGroups);
  http.get('/healthz', async () => ({ ok: true }));
  eventRoutes(http, reader, store);
  verifyRoutes(http, reader, integrity);
  sessionRoutes(http, reader, sessions);
  await http.listen({ host: deps.http.host, port: deps.http.port });
  const port = (http.server.address() as { port: number }).port;
  // the head, signed, outside the table: at start, regularly, and at shutdown
  let checkpointing = Promise.resolve();
  const checkpoint = () => {
    checkpointing = checkpointing
      .then(async () => void (await integrity.checkpoint()))
      .catch((err: unknown) => deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit checkpoint failed; retried at the next one'));
    return checkpointing;
  };
  await checkpoint();
  const timer = setInterval(checkpoint, deps.checkpoint.seconds * 1000);
  timer.unref();
  return {
    store,
    integrity,
    sessions,
    http,
    port,
    forwarder,
    close: async () => {
      clearInterval(timer);
      await checkpoint();
      await forwarder?.close();
      await http.close();
      await store.close();
    },
  };
}
