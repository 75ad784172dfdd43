import { parseArgs } from 'node:util';
import { demoConfigPath, loadConfigFile } from '@airlock/config';
import { commonEnv, readEnv } from '@airlock/runtime';
import { devIssuerSettings, devTokenMaxTtlSeconds, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';

export const tokenUsage = 'airlock token --sub <subject> [--groups g1,g2] [--ttl <seconds, may be negative>] [--aud <audience>] [--email <email>]';

/** Mints a token from the development issuer (only when the config enables it) and prints it on the last line. */
export async function tokenCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    // `--ttl -60` is a value, not an option: parseArgs would refuse it, so join it to its flag
    args: joinNegativeValues(args, ['--ttl']),
    options: {
      sub: { type: 'string' },
      groups: { type: 'string', default: '' },
      ttl: { type: 'string' },
      aud: { type: 'string' },
      email: { type: 'string' },
    },
    strict: true,
  });
  if (!values.sub) throw new Error(`--sub is required\nusage: ${tokenUsage}`);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !Number.isInteger(ttl)) throw new Error('--ttl must be a whole number of seconds');
  const common = readEnv(env, commonEnv);
  const config = loadConfigFile(common.configPath ?? demoConfigPath);
  const settings = devIssuerSettings(config);
  if (ttl !== undefined && ttl > devTokenMaxTtlSeconds) {
    throw new Error(`--ttl ${ttl} is above the development issuer's cap of ${devTokenMaxTtlSeconds} seconds (24 h): ask for a shorter lifetime`);
  }
  // the key file the identity service of the demo in this checkout uses (its state folder)
  const key = await loadOrCreateDevKey(env);
  const token = await mintDevToken(key, settings, {
    subject: values.sub,
    groups: values.groups.split(',').map((g) => g.trim()).filter(Boolean),
    ...(ttl !== undefined ? { ttlSeconds: ttl } : {}),
    ...(values.aud ? { audience: values.aud } : {}),
    ...(values.email ? { email: values.email } : {}),
  });
  out(token);
  return 0;
}

/** Turns `--flag -5` into `--flag=-5` for flags whose value may be a negative number. */
export function joinNegativeValues(args: string[], flags: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (flags.includes(a) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${a}=${next}`);
      i += 1;
    } else out.push(a);
  }
  return out;
}
