import type { AirlockConfig } from '@airlock/config';
import { policyV1 } from '@airlock/contracts';
import type { Bus } from '@airlock/runtime';
import { explainAccess } from '../evaluate.js';

/**
 * `policy.v1.explain-access`: the rules that let a principal run statements, per connection. Answered from the same
 * rule matching that decides statements, so a front door that lists access never keeps a copy of it.
 */
export function explainAccessHandler(config: AirlockConfig): (req: policyV1.ExplainAccessRequest) => Promise<policyV1.ExplainAccessResponse> {
  return async (req) => explainAccess(config, req.principal, req.connection);
}

/** `policy.v1.explain-access`: what a principal may do on each connection, from the same rules `decide` applies. */
export function serveExplainAccess(bus: Bus, config: AirlockConfig): void {
  bus.serve(policyV1.explainAccess, explainAccessHandler(config));
}
