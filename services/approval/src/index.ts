export { service } from './definition.js';
export { startApproval, type ApprovalDeps, type ApprovalService, type ApprovalSettings } from './service.js';
export { loadConfig, type ApprovalEnv } from './config.js';
export { Approvals, toView, type Decision } from './approvals.js';
export { Delivery, backoffDelay, type DeliverySettings } from './delivery.js';
export { parseWindow, formatSeconds } from './duration.js';
export { grantCovers, grantForVotes, type GrantScope, type HeldStatement } from './grants.js';
export { howToDecide, requestedJson, requestedSlack, decidedJson, decidedSlack, escapeMrkdwn, type HowToDecide } from './messages.js';
export { migrateApproval } from './store/migrations.js';
