export { main } from './main.js';
export { startStack, startService, allServices, serviceNames, upApart, type Stack, type RunningService, type ServiceName } from './stack.js';
// the demo's pieces, for the tests that drive the demo through the command line's package
export {
  seedDemoDatabase,
  demoCustomers,
  demoOrders,
  startDemoWarehouse,
  demoAccount,
  demoAdminUser,
  startDemoSignIn,
  demoPeople,
  type DemoCustomer,
  type DemoOrder,
  type DemoWarehouse,
  type DemoSignIn,
  type DemoPerson,
} from '@airlock/demo';
