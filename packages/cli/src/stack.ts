import { loadConfigFromEnv, startService as startOne, type RunningService, type SharedProcess } from '@airlock/runtime';
import { servicesNamed, type ServiceName } from '@airlock/stack';

export { allServices, serviceNames, servicesNamed, startStack, upApart, type ServiceName, type Stack, type StackOptions } from '@airlock/stack';
export type { RunningService } from '@airlock/runtime';

/**
 * One service by name on its own host (its own NATS connection and database pool), as a separate process would.
 * Without a config given, the file AIRLOCK_CONFIG names.
 */
export async function startService(name: ServiceName, env: Record<string, string | undefined>, shared: Partial<SharedProcess> = {}): Promise<RunningService> {
  const [definition] = servicesNamed([name]);
  return startOne(definition!, env, { ...shared, config: shared.config ?? loadConfigFromEnv(env) });
}
