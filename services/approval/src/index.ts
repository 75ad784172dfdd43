export { startApproval, type ApprovalDeps, type ApprovalService } from './service.js';
export { ApprovalStore } from './store/requests.js';
