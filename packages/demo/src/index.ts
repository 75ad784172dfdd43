export { seedDemoDatabase, demoCustomers, demoOrders, type DemoCustomer, type DemoOrder } from './seed.js';
export { startDemoWarehouse, demoAccount, demoAdminUser, type DemoWarehouse } from './warehouse.js';
export { startDemoSignIn, demoPeople, type DemoSignIn, type DemoPerson } from './sign-in.js';
