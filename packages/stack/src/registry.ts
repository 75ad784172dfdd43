import type { ServiceDefinition } from '@airlock/runtime';
import { service as identity } from '@airlock/identity';
import { service as policy } from '@airlock/policy';
import { service as approval } from '@airlock/approval';
import { service as credential } from '@airlock/credential';
import { service as audit } from '@airlock/audit';
import { service as proxy } from '@airlock/proxy';
import { service as consoleService } from '@airlock/console';

/** Every Airlock service, in the order `airlock up` starts them when none depends on another. */
export const allServices = [identity, policy, approval, credential, audit, proxy, consoleService] as const satisfies readonly ServiceDefinition[];

export const serviceNames = ['identity', 'policy', 'approval', 'credential', 'audit', 'proxy', 'console'] as const;
export type ServiceName = (typeof serviceNames)[number];

/** The definition of each named service, or an error naming the ones that exist. */
export function servicesNamed(names: readonly string[]): ServiceDefinition[] {
  return names.map((name) => {
    const found = allServices.find((d) => d.name === name);
    if (!found) throw new Error(`no service "${name}": one of ${serviceNames.join(', ')}`);
    return found;
  });
}
