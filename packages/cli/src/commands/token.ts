import { parseArgs } from 'node:util';
import pg from 'pg';
import { demoConfigPath, loadConfigFile } from '@airlock/config';
import { commonEnv, ensureDatabase, readEnv } from '@airlock/runtime';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';

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
  await ensureDatabase(common.databaseUrl);
  const pool = new pg.Pool({ connectionString: common.databaseUrl, max: 1 });
  try {
    const key = await loadOrCreateDevKey(pool);
    const token = await mintDevToken(key, settings, {
      subject: values.sub,
      groups: values.groups.split(',').map((g) => g.trim()).filter(Boolean),
      ...(ttl !== undefined ? { ttlSeconds: ttl } : {}),
      ...(values.aud ? { audience: values.aud } : {}),
      ...(values.email ? { email: values.email } : {}),
    });
    out(token);
    return 0;
  } finally {
    await pool.end();
  }
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
