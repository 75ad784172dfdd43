import type { AirlockConfig } from '@airlock/config';
import { policyV1 } from '@airlock/contracts';
import type { Bus, Logger } from '@airlock/runtime';
import { initParsers } from './analysis/index.js';
import { CatalogCache } from './catalog-cache.js';
import { evaluate } from './evaluate.js';
import { AnalysisCache } from './analysis-cache.js';

export interface PolicyDeps {
  bus: Bus;
  config: AirlockConfig;
  logger: Logger;
}

export interface PolicyService {
  catalogs: CatalogCache;
  close(): Promise<void>;
}

/** Serves `policy.v1.decide` and records every decision, with its explanation, as an event. */
export async function startPolicy(deps: PolicyDeps): Promise<PolicyService> {
  await initParsers();
  const catalogs = new CatalogCache(deps.bus, deps.logger);
  const cache = new AnalysisCache();
  deps.bus.serve(policyV1.decide, async (req, ctx) => {
    const catalog = await catalogs.get(req.connection);
    const decision = evaluate({ config: deps.config, principal: req.principal, connection: req.connection, sql: req.sql, catalog, requestId: req.requestId, cache });
    await deps.bus.publish(
      policyV1.decided,
      { requestId: req.requestId, sessionId: req.sessionId, principal: req.principal, connection: req.connection, sql: req.sql, decision },
      ctx,
    );
    return decision;
  });
  return { catalogs, close: async () => undefined };
}
