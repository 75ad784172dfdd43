import { upCommand } from './commands/up.js';
import { runCommand } from './commands/run.js';
import { tokenCommand, tokenUsage } from './commands/token.js';

const usage = `usage: airlock <command>

  up                      run every service in one process (the embedded demo by default)
  run <service>           run one service: identity, policy, approval, credential, audit, proxy
  token                   ${tokenUsage}

Environment: NATS_URL, DATABASE_URL, AIRLOCK_CONFIG (see README.md).`;

/** The `airlock` command line. Returns the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [command, ...rest] = argv;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case 'up':
      return upCommand(env, out);
    case 'run':
      return runCommand(rest, env);
    case 'token':
      return tokenCommand(rest, env, out);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${usage}\n`);
      return 1;
  }
}
