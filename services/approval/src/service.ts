import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AirlockConfig } from '@airlock/config';
import { approvalV1 } from '@airlock/contracts';
import type { Bus, Logger } from '@airlock/runtime';
import { ApprovalStore, migrateApproval, type ApprovalRow } from './store/requests.js';

export interface ApprovalDeps {
  bus: Bus;
  pool: pg.Pool;
  config: AirlockConfig;
  logger: Logger;
}

export interface ApprovalService {
  store: ApprovalStore;
  close(): Promise<void>;
}

const status = (row: ApprovalRow): approvalV1.ApprovalStatus => ({
  approvalId: row.id,
  state: row.state,
  expiresAt: new Date(row.expires_at).toISOString(),
  approvals: 0,
  quorum: row.quorum,
  ...(row.reason ? { reason: row.reason } : {}),
});

/** Persists statements that policy holds for approval and announces them on the bus. */
export async function startApproval(deps: ApprovalDeps): Promise<ApprovalService> {
  await migrateApproval(deps.pool);
  const store = new ApprovalStore(deps.pool);
  const ttlSeconds = deps.config.approval?.ttlSeconds ?? 900;

  deps.bus.serve(approvalV1.submitApproval, async (req, ctx) => {
    const open = await store.findOpen(req);
    if (open) return status(open);
    const id = randomUUID();
    const row = await store.insert(id, req, new Date(Date.now() + ttlSeconds * 1000));
    await deps.bus.publish(
      approvalV1.approvalRequested,
      {
        approvalId: id,
        principal: req.principal,
        connection: req.connection,
        sql: req.sql,
        fingerprint: req.fingerprint,
        tables: req.tables,
        rule: req.rule,
        approverGroups: req.approverGroups,
        quorum: req.quorum,
        expiresAt: new Date(row.expires_at).toISOString(),
        requestId: req.requestId,
        sessionId: req.sessionId,
        ...(req.justification ? { justification: req.justification } : {}),
      },
      ctx,
    );
    deps.logger.info({ approvalId: id, connection: req.connection, rule: req.rule }, 'statement held for approval');
    return status(row);
  });

  return { store, close: async () => undefined };
}
