import type { AirlockConfig } from '@airlock/config';
import { EventPublisher, type Bus, type Logger, type Registry, type Signer } from '@airlock/runtime';
import { initParsers } from './analysis/index.js';
import { CatalogCache } from './catalog-cache.js';
import { AnalysisCache } from './analysis-cache.js';
import { serveDecide } from './handlers/decide.js';
import { serveKeys } from './handlers/keys.js';
import { serveExplainAccess } from './handlers/explain-access.js';

export interface PolicyDeps {
  bus: Bus;
  config: AirlockConfig;
  logger: Logger;
  /** the service's Prometheus registry */
  metrics?: Registry;
  /** the policy service's own signing keys: every decision it answers is signed with them */
  signer: Signer;
}

export interface PolicyService {
  catalogs: CatalogCache;
  close(): Promise<void>;
}

/** Serves `policy.v1.decide` (each decision signed) and `policy.v1.keys`, and records every decision, with its explanation, as an event. */
export async function startPolicy(deps: PolicyDeps): Promise<PolicyService> {
  await initParsers();
  const catalogs = new CatalogCache(deps.bus, deps.logger);
  const cache = new AnalysisCache();
  // decisions are recorded off the reply's path; the event is written to the connection before the reply, so the
  // stream still holds it before anything the caller does next
  const events = new EventPublisher(deps.bus, deps.logger);
  serveDecide(deps.bus, { config: deps.config, catalogs, cache, events, signer: deps.signer, metrics: deps.metrics });
  serveKeys(deps.bus, deps.signer);
  serveExplainAccess(deps.bus, deps.config);
  return { catalogs, close: () => events.flush() };
}
