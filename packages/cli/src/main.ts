// commands are loaded when used, so a quick one (`token`) does not load every service and driver
const usage = `usage: airlock <command>

  up                                   run every service in one process (the embedded demo by default)
  run <service>                        run one service: identity, policy, approval, credential, audit, proxy, console
  migrate [--roles <prefix>]           apply every store's schema as its owner; grant each <prefix>_<service> role its store
  token --sub <subject> [--groups g1,g2] [--ttl <seconds, may be negative>] [--aud <audience>]
                                       print a development token (demo issuer only) on the last line
  policy check --connection <name> --as <subject> --groups <g1,g2> --sql "<statement>" [--snapshot <file>]
                                       explain a decision: rule, column lineage, masking plan
  policy test [dir] [--config <file>]  run policy fixtures offline (no NATS, no database); exit 1 on a mismatch
                                       (no dir: the demo's own fixtures, deploy/config/policy-tests)
  policy snapshot --connection <name> [--out <file>]
                                       write a connection's catalogue (tables, columns) for policy test
  approvals list | approve <id> [--for 1h] [--reason …] | deny <id> --reason …
  audit tail | verify
  sessions list | show <id> | replay <id>
  tls self-signed --dir <dir> --hosts <name,ip,…> [--owner <uid:gid>]
                                       write a self-signed demo certificate unless one is there

The caller's own token comes from --token or AIRLOCK_TOKEN. Environment: NATS_URL, DATABASE_URL, AIRLOCK_CONFIG
(see README.md). \`airlock <command> --help\` shows a command's options.`;

/** The `airlock` command line. Returns the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [command, ...rest] = argv;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case 'up':
      return (await import('./commands/up.js')).upCommand(env, out);
    case 'run':
      return (await import('./commands/run.js')).runCommand(rest, env);
    case 'migrate':
      return (await import('./commands/migrate.js')).migrateCommand(rest, env, out);
    case 'token':
      return (await import('./commands/token.js')).tokenCommand(rest, env, out);
    case 'policy':
      return (await import('./commands/policy.js')).policyCommand(rest, env, out);
    case 'approvals':
      return (await import('./commands/approvals.js')).approvalsCommand(rest, env, out);
    case 'audit':
      return (await import('./commands/audit.js')).auditCommand(rest, env, out);
    case 'sessions':
      return (await import('./commands/sessions.js')).sessionsCommand(rest, env, out);
    case 'tls':
      return (await import('./commands/tls.js')).tlsCommand(rest, out);
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
