import { Signer, tokenKinds, type ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type PolicyEnv } from './config.js';
import { startPolicy } from './service.js';

/** The policy service: decides each statement (signed), with its explanation, and publishes the decision. */
export const service: ServiceDefinition<PolicyEnv> = {
  name: 'policy',
  dependsOn: [],
  loadConfig,
  start: async (host) => {
    const { bus, config, logger, metrics, variables } = host;
    const signer = await Signer.load({ service: 'policy', env: variables, logger }, tokenKinds.decision);
    const svc = await startPolicy({ bus, config, logger, metrics, signer });
    return { ports: {}, close: svc.close };
  },
};
