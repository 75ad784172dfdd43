import type pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { auditV1 } from '@airlock/contracts';
import { AirlockError, Counter, Histogram, Registry, createHttpServer, httpDoorTls, latencyBuckets, type Bus, type Logger, type Signer } from '@airlock/runtime';
import { Integrity } from './integrity.js';
import { AuditStore, migrateAudit, type EventFilter } from './store/events.js';
import { SessionStore, type SessionFilter } from './store/sessions.js';
import { formatTranscript } from './transcript.js';
import { startForwarder, type Forwarder, type ForwarderSettings } from './forwarder.js';

export interface AuditDeps {
  bus: Bus;
  pool: pg.Pool;
  logger: Logger;
  /** `tls`/`allowInsecureNonLoopback`: the config's `http` section */
  http: { host: string; port: number; tls?: { certPath: string; keyPath: string } | undefined; allowInsecureNonLoopback?: boolean | undefined };
  /** verifies a reader's bearer token and returns its groups; the identity service's verify over the bus */
  authenticate: (token: string) => Promise<{ subject: string; groups: string[] }>;
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

type Query = Record<string, string | undefined>;

const decisions = ['allow', 'deny', 'approval-required'] as const;
const outcomes = ['completed', 'failed'] as const;

function integer(q: Query, name: string, min: number): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new AirlockError('runtime.invalid_request', `${name} must be an integer of at least ${min}`);
  return n;
}

function date(q: Query, name: string): Date | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new AirlockError('runtime.invalid_request', `${name} must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z`);
  return new Date(t);
}

function oneOf<T extends string>(q: Query, name: string, allowed: readonly T[]): T | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new AirlockError('runtime.invalid_request', `${name} must be one of: ${allowed.join(', ')}`);
  return raw as T;
}

function text(q: Query, name: string): string | undefined {
  const raw = q[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Writes every lifecycle event, exactly once and in stream order, to the hash-chained audit table; serves reads. */
export async function startAudit(deps: AuditDeps): Promise<AuditService> {
  // before anything starts: an API that would take tokens in clear text beyond loopback never opens
  const tls = httpDoorTls({ door: 'audit API', host: deps.http.host, settings: deps.http, logger: deps.logger });
  if (deps.migrate !== false) await migrateAudit(deps.pool);
  const store = new AuditStore(deps.pool, deps.chainKey);
  const durable = deps.durableName ?? 'airlock-audit';
  const integrity = new Integrity({ bus: deps.bus, store, signer: deps.signer, logger: deps.logger, checkpointFile: deps.checkpoint.file, durable });
  deps.bus.serve(auditV1.keys, async () => deps.signer.jwks());
  const sessions = new SessionStore(deps.pool);
  const registers = [deps.metrics ?? new Registry()];
  const appended = new Counter({ name: 'airlock_audit_events_appended_total', help: 'Events appended to the audit chain (duplicates not counted)', registers });
  const appendSeconds = new Histogram({
    name: 'airlock_audit_append_duration_seconds',
    help: 'Time to append one batch of events in one transaction',
    buckets: latencyBuckets,
    registers,
  });
  const batchSize = new Histogram({ name: 'airlock_audit_append_batch_size', help: 'Events per append transaction', buckets: [1, 5, 20, 50, 100, 200, 500, 1000, 2000], registers });
  await deps.bus.consumeBatches(
    deps.durableName ?? 'airlock-audit',
    async (all) => {
      // the log's own checkpoints are kept outside it: recording one would move the head it vouches for
      const events = all.filter((e) => e.subject !== integrity.checkpointSubject);
      for (const e of events) {
        if (typeof (e.payload as { id?: unknown } | undefined)?.id !== 'string') {
          deps.logger.warn({ subject: e.subject, streamSequence: e.streamSequence }, 'event without an id: recorded under its stream sequence');
        }
      }
      const started = performance.now();
      appended.inc(await store.appendBatch(events.map((e) => ({ subject: e.subject, payload: e.payload, streamSequence: e.streamSequence }))));
      appendSeconds.observe((performance.now() - started) / 1000);
      batchSize.observe(events.length);
    },
    { maxBatch: deps.batchSize ?? 1000 },
  );
  const forwarder = deps.forward ? await startForwarder(deps.bus, deps.logger, deps.forward) : undefined;

  const http = createHttpServer({ logger: deps.logger, ...(tls ? { tls } : {}) });
  http.addHook('onClose', async () => tls?.close());
  const reader = async (authorization: string | undefined) => {
    const token = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new AirlockError('identity.missing_token', 'send an OIDC token as "Authorization: Bearer <token>"');
    const who = await deps.authenticate(token);
    if (!who.groups.some((g) => deps.readerGroups.includes(g))) {
      throw new AirlockError('audit.forbidden', `reading the audit log needs one of the groups: ${deps.readerGroups.join(', ')}`);
    }
    return who;
  };
  const session = async (id: string) => {
    const found = await sessions.get(id);
    if (!found) throw new AirlockError('audit.not_found', `no session ${id} is recorded; list sessions with GET /v1/sessions`);
    return found;
  };

  http.get('/healthz', async () => ({ ok: true }));
  http.get<{ Querystring: Query }>('/v1/events', async (req) => {
    await reader(req.headers.authorization);
    const q = req.query;
    const filter: EventFilter = {};
    const set = <K extends keyof EventFilter>(k: K, v: EventFilter[K] | undefined) => {
      if (v !== undefined) filter[k] = v;
    };
    set('sessionId', text(q, 'sessionId'));
    set('requestId', text(q, 'requestId'));
    set('principal', text(q, 'principal'));
    set('type', text(q, 'type'));
    set('afterSeq', integer(q, 'afterSeq', 0));
    set('from', date(q, 'from'));
    set('to', date(q, 'to'));
    set('limit', integer(q, 'limit', 1));
    set('tail', integer(q, 'tail', 1));
    const rows = await store.search(filter);
    return { events: rows.map((r) => ({ seq: r.seq, subject: r.subject, type: r.event_type, time: r.event_time, hash: r.hash, payload: r.payload })) };
  });
  http.get<{ Querystring: Query }>('/v1/verify', async (req) => {
    await reader(req.headers.authorization);
    const partition = integer(req.query, 'partition', 1);
    return integrity.verify(partition === undefined ? {} : { partition });
  });
  http.get<{ Querystring: Query }>('/v1/sessions', async (req) => {
    await reader(req.headers.authorization);
    const q = req.query;
    const filter: SessionFilter = {};
    const set = <K extends keyof SessionFilter>(k: K, v: SessionFilter[K] | undefined) => {
      if (v !== undefined) filter[k] = v;
    };
    set('principal', text(q, 'principal'));
    set('connection', text(q, 'connection'));
    set('table', text(q, 'table'));
    set('decision', oneOf(q, 'decision', decisions));
    set('outcome', oneOf(q, 'outcome', outcomes));
    set('from', date(q, 'from'));
    set('to', date(q, 'to'));
    set('limit', integer(q, 'limit', 1));
    return { sessions: await sessions.list(filter) };
  });
  http.get<{ Params: { id: string } }>('/v1/sessions/:id', async (req) => {
    await reader(req.headers.authorization);
    return session(req.params.id);
  });
  http.get<{ Params: { id: string } }>('/v1/sessions/:id/replay', async (req, reply) => {
    await reader(req.headers.authorization);
    const transcript = formatTranscript(await session(req.params.id));
    return reply.type('text/plain; charset=utf-8').send(transcript);
  });
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
