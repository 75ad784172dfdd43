import { join } from 'node:path';
import { Signer, loadSecret, stateDir, tokenKinds, type ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type AuditEnv } from './config.js';
import { startAudit } from './service.js';

/** The audit service: the hash-chained log of every event, its signed checkpoints, and the auditors' read API. */
export const service: ServiceDefinition<AuditEnv> = {
  name: 'audit',
  // readers' tokens are verified by identity
  dependsOn: ['identity'],
  loadConfig,
  start: async (host, own) => {
    const { bus, pool, config, logger, metrics, variables } = host;
    const signer = await Signer.load({ service: 'audit', env: variables, logger }, tokenKinds.checkpoint);
    const svc = await startAudit({
      chainKey: loadSecret('audit-chain-key', variables, logger),
      signer,
      checkpoint: { file: own.checkpointFile ?? join(stateDir(variables), 'audit-checkpoints.jsonl'), seconds: own.checkpointSeconds },
      bus,
      pool,
      logger,
      metrics,
      http: { host: own.httpHost, port: own.httpPort, tls: config.http?.tls, allowInsecureNonLoopback: config.http?.allowInsecureNonLoopback },
      readerGroups: own.readerGroups.split(',').map((g) => g.trim()).filter(Boolean),
      batchSize: own.batchSize,
      migrate: own.migrate,
      ...(own.forwardUrl
        ? {
            forward: {
              url: own.forwardUrl,
              timeoutMs: own.forwardTimeoutMs,
              maxBackoffMs: own.forwardMaxBackoffMs,
              ...(own.forwardAuthorization ? { authorization: own.forwardAuthorization } : {}),
            },
          }
        : {}),
    });
    return { ports: { audit: svc.port }, close: svc.close };
  },
};
