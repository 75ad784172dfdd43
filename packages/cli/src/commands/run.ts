import { runAlone } from '@airlock/runtime';
import { serviceNames, servicesNamed } from '@airlock/stack';

/** `airlock run <service>`: one service in its own process; run several copies to share the load. */
export async function runCommand(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const name = args[0];
  if (!name || !(serviceNames as readonly string[]).includes(name)) {
    throw new Error(`usage: airlock run <${serviceNames.join('|')}>`);
  }
  await runAlone(servicesNamed([name])[0]!, env);
  await new Promise<never>(() => undefined);
  return 0;
}
