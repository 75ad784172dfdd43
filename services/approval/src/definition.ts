import { Signer, tokenKinds, type ServiceDefinition } from '@airlock/runtime';
import { loadConfig, type ApprovalEnv } from './config.js';
import { startApproval } from './service.js';

/** The approval service: holds statements for human approval, its approvers' API, and the grants it signs. */
export const service: ServiceDefinition<ApprovalEnv> = {
  name: 'approval',
  // approvers' tokens are verified by identity
  dependsOn: ['identity'],
  loadConfig,
  start: async (host, settings) => {
    const { bus, pool, config, logger, metrics, variables } = host;
    const signer = await Signer.load({ service: 'approval', env: variables, logger }, tokenKinds.grant);
    const svc = await startApproval({ bus, pool, config, logger, metrics, settings, signer });
    return { ports: { approval: svc.port }, close: svc.close };
  },
};
