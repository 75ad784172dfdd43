export { allServices, serviceNames, servicesNamed, type ServiceName } from './registry.js';
export { startStack, upApart, type Stack, type StackOptions } from './stack.js';
