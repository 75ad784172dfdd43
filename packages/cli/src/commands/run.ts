import { closeOnSignals, Lifecycle } from '@airlock/runtime';
import { serviceNames, startService, type ServiceName } from '../stack.js';

/** `airlock run <service>`: one service in its own process; run several copies to share the load. */
export async function runCommand(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const name = args[0];
  if (!name || !(serviceNames as readonly string[]).includes(name)) {
    throw new Error(`usage: airlock run <${serviceNames.join('|')}>`);
  }
  const svc = await startService(name as ServiceName, env);
  const lifecycle = new Lifecycle();
  lifecycle.add(name, svc.close);
  closeOnSignals(lifecycle, svc.host.logger);
  svc.host.logger.info({ ports: svc.ports }, `${name} service running`);
  await new Promise<never>(() => undefined);
  return 0;
}
