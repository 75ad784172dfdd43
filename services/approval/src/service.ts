import type pg from 'pg';
import type { FastifyInstance } from 'fastify';
import type { AirlockConfig } from '@airlock/config';
import { Counter, Gauge, Registry, httpDoorTls, type Bus, type Logger, type Signer } from '@airlock/runtime';
import { Approvals } from './approvals.js';
import type { ApprovalEnv } from './config.js';
import { Delivery } from './delivery.js';
import { approvalHttp } from './handlers/api.js';
import { serveKeys } from './handlers/keys.js';
import { serveStatus } from './handlers/status.js';
import { serveSubmit } from './handlers/submit.js';
import { migrateApproval } from './store/migrations.js';

export type ApprovalSettings = Pick<
  ApprovalEnv,
  'httpHost' | 'httpPort' | 'publicUrl' | 'sweepMs' | 'deliveryAttempts' | 'deliveryBackoffMs' | 'deliveryMaxBackoffMs' | 'deliveryTimeoutMs'
>;

export interface ApprovalDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
  settings: ApprovalSettings;
  /** the service's Prometheus registry */
  metrics?: Registry;
  /** the approval service's own signing keys, for the grants it hands out */
  signer: Signer;
}

export interface ApprovalService {
  approvals: Approvals;
  delivery: Delivery;
  http: FastifyInstance;
  /** the port the HTTP API listens on */
  port: number;
  close(): Promise<void>;
}

/**
 * Holds statements for human approval: serves submit and status on the bus, the approvers' HTTP API, the expiry
 * sweep, and the outbox that announces every transition (bus events, webhooks). Several copies may run at once.
 */
export async function startApproval(deps: ApprovalDeps): Promise<ApprovalService> {
  const { settings } = deps;
  const logger = deps.logger.child({ component: 'approval' });
  // before anything starts: an API that would take tokens in clear text beyond loopback never opens
  const tls = httpDoorTls({ door: 'approval API', host: settings.httpHost, settings: deps.config.http, logger });
  await migrateApproval(deps.pool);
  const cfg = deps.config.approval ?? {};
  const delivery = new Delivery({
    onAttempt: (channel, result) => deliveries.inc({ channel, result }),
    pool: deps.pool,
    bus: deps.bus,
    logger,
    settings: {
      attempts: settings.deliveryAttempts,
      backoffMs: settings.deliveryBackoffMs,
      maxBackoffMs: settings.deliveryMaxBackoffMs,
      timeoutMs: settings.deliveryTimeoutMs,
    },
  });
  let port = settings.httpPort;
  const approvals = new Approvals({
    pool: deps.pool,
    settings: {
      ttlSeconds: cfg.ttlSeconds ?? 900,
      oneShotSeconds: cfg.oneShotSeconds ?? 600,
      maxWindowSeconds: cfg.maxWindowSeconds ?? 28_800,
      webhooks: cfg.webhooks ?? [],
      apiBaseUrl: () => settings.publicUrl ?? `http://${settings.httpHost.includes(':') ? `[${settings.httpHost}]` : settings.httpHost}:${port}`,
    },
    announce: () => void delivery.kick(),
  });

  const registers = [deps.metrics ?? new Registry()];
  const submissions = new Counter({
    name: 'airlock_approval_submissions_total',
    help: 'Statements submitted for approval through this copy, by the state they were answered with',
    labelNames: ['state'],
    registers,
  });
  const deliveries = new Counter({
    name: 'airlock_approval_deliveries_total',
    help: 'Outbox delivery attempts, by channel (bus, webhook) and result (delivered, retry, failed)',
    labelNames: ['channel', 'result'],
    registers,
  });
  const states = ['pending', 'granted', 'denied', 'expired', 'cancelled'] as const;
  new Gauge({
    name: 'airlock_approval_requests',
    help: 'Approval requests by state, read from the table that every copy shares (aggregate with max, not sum)',
    labelNames: ['state'],
    registers,
    async collect() {
      const { rows } = await deps.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM approval_requests GROUP BY state');
      for (const state of states) this.set({ state }, rows.find((r) => r.state === state)?.n ?? 0);
    },
  });

  serveSubmit(deps.bus, { approvals, signer: deps.signer, logger, submissions });
  serveKeys(deps.bus, deps.signer);
  serveStatus(deps.bus, approvals);

  const http = approvalHttp({ approvals, bus: deps.bus, logger, tls });
  http.addHook('onClose', async () => tls?.close());
  await http.listen({ host: settings.httpHost, port: settings.httpPort });
  port = (http.server.address() as { port: number }).port;

  // one chain of timers, never overlapping: expire what is due, then deliver what is waiting (including after a restart)
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let tick: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick = (async () => {
        try {
          await approvals.expireDue();
          await delivery.kick();
        } catch (err) {
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'approval sweep failed; it runs again shortly');
        }
        schedule();
      })();
    }, settings.sweepMs);
  };
  schedule();
  void delivery.kick();

  return {
    approvals,
    delivery,
    http,
    port,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      await tick;
      await http.close();
      await delivery.idle();
    },
  };
}
