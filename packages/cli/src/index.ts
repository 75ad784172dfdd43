export { main } from './main.js';
export { startStack, startService, serviceNames, type Stack, type RunningService, type ServiceName } from './stack.js';
export { seedDemoDatabase, demoCustomers, demoOrders, type DemoCustomer, type DemoOrder } from './demo/seed.js';
export { startDemoWarehouse, demoAccount, demoAdminUser, type DemoWarehouse } from './demo/warehouse.js';
export { startDemoSignIn, demoPeople, type DemoSignIn, type DemoPerson } from './demo/sign-in.js';
