import type { AirlockConfig } from '@airlock/config';
import { randomBytes } from 'node:crypto';
import { policyV1 } from '@airlock/contracts';
import { EventPublisher, digest, type Bus, type Logger, type Registry, type Signer } from '@airlock/runtime';
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
  // decisions are recorded off the reply's path; the event is written to the connection before the reply, so the
  // stream still holds it before anything the caller does next
  const events = new EventPublisher(deps.bus, deps.logger);
  // a reusable decision names the config and catalogue it was made with; when either changes, proxies are told to
  // stop reusing what was decided before
  // salted per process: the config names secrets (admin URLs), and an epoch travels on the event stream
  const configVersion = digest([randomBytes(16).toString('base64url'), deps.config]);
  const epoch = (connection: string) => digest([configVersion, catalogs.version(connection)]);
  const announce = (cause: policyV1.EpochChanged['cause'], connection?: string) =>
    events.emit(policyV1.epochChanged, { epoch: connection ? epoch(connection) : configVersion, cause, ...(connection ? { connection } : {}) });
  const catalogs = new CatalogCache(deps.bus, deps.logger, undefined, (connection) => announce('catalog', connection));
  const cache = new AnalysisCache();
  serveDecide(deps.bus, { config: deps.config, catalogs, cache, events, signer: deps.signer, metrics: deps.metrics, epoch });
  serveKeys(deps.bus, deps.signer);
  serveExplainAccess(deps.bus, deps.config);
  // a process that starts may decide with another config than the one it replaces
  announce('started');
  return { catalogs, close: () => events.flush() };
}
