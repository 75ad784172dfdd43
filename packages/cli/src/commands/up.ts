import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createServer } from 'node:net';
import { consoleApis, consoleResource, demoConfigPath, expandEnv, loadConfigFile, type AirlockConfig } from '@airlock/config';
import { connect } from '@nats-io/transport-node';
import { closeOnSignals, commonEnv, createLogger, Lifecycle, readEnv, type Logger } from '@airlock/runtime';
import { startStack, upApart } from '../stack.js';
import type { DemoSignIn } from '@airlock/demo';
import { tokenCommand } from './token.js';

/**
 * `airlock up`: every service in one process over the real NATS and PostgreSQL (the proxy on a thread of its own). On the embedded demo it also
 * creates and seeds the demo database, then prints how to connect.
 */
export async function upCommand(env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const common = readEnv(env, commonEnv);
  const logger = createLogger({ service: 'airlock', level: common.logLevel });
  // demo mode: no config given, in a checkout. The image (NODE_ENV=production) never falls back to the demo.
  const isDemo = !common.configPath || resolve(common.configPath) === demoConfigPath;
  if (isDemo && env['NODE_ENV'] === 'production') {
    throw new Error('AIRLOCK_CONFIG is required: set it to your config file (deploy/config/ has examples); the demo config runs only in a development checkout');
  }
  const configPath = common.configPath ?? demoConfigPath;
  let config = loadConfigFile(configPath);
  if (!isDemo) await refuseOpenBus(common.natsUrl, config.bus?.allowUnauthenticated === true, logger);
  // only demo mode may run the demo config and its development issuer
  const runEnv: Record<string, string | undefined> = { ...env, AIRLOCK_DEMO: isDemo ? '1' : undefined };
  const lifecycle = new Lifecycle();
  let signIn: DemoSignIn | undefined;
  if (isDemo) {
    // loaded in demo mode only: the production image carries neither the demo nor the Snowflake emulator
    const { seedDemoDatabase, startDemoWarehouse } = await import('@airlock/demo');
    const demo = config.connections['demo'];
    if (demo?.type === 'postgres') await seedDemoDatabase(expandEnv(demo.adminUrl, env));
    if (config.connections['warehouse'] && !env['AIRLOCK_WAREHOUSE_URL']) {
      // the demo's Snowflake is the protocol emulator; its admin key exists only in this process
      const url = new URL(common.databaseUrl);
      url.pathname = '/airlock_warehouse';
      const warehouse = await startDemoWarehouse({ databaseUrl: url.toString(), port: Number(env['AIRLOCK_WAREHOUSE_PORT'] ?? 8090) });
      lifecycle.add('warehouse', warehouse.close);
      runEnv['AIRLOCK_WAREHOUSE_URL'] = warehouse.url;
      runEnv['AIRLOCK_WAREHOUSE_ADMIN_KEY'] = warehouse.adminPrivateKeyPem;
    }
    if (config.console?.oidc) {
      const demoConsole = await startDemoConsole(config, env);
      signIn = demoConsole.signIn;
      lifecycle.add('demo sign-in', signIn.close);
      config = demoConsole.config;
      Object.assign(runEnv, demoConsole.env);
    }
  }
  // the config chosen here (the demo's only in demo mode) is the one every service runs with
  const stack = await startStack(runEnv, { logger, config, apart: upApart });
  lifecycle.add('stack', stack.close);
  closeOnSignals(lifecycle, logger);

  const pgPort = stack.ports['pgwire'];
  out('');
  out('Airlock is up.');
  out(`  PostgreSQL front door   127.0.0.1:${pgPort}  (password = your OIDC token, database = connection name)`);
  out(`  HTTP front doors        http://127.0.0.1:${stack.ports['http']}  (Snowflake clients: accessUrl, account = connection name)`);
  if (runEnv['AIRLOCK_WAREHOUSE_URL']) out(`  demo Snowflake (emulator) ${runEnv['AIRLOCK_WAREHOUSE_URL']}`);
  if (stack.ports['approval']) out(`  approval API            http://127.0.0.1:${stack.ports['approval']}`);
  if (stack.ports['audit']) out(`  audit API               http://127.0.0.1:${stack.ports['audit']}`);
  if (stack.ports['console']) {
    out(`  console                 http://127.0.0.1:${stack.ports['console']}  (${signIn ? 'sign in with a demo user below' : 'sign in with your identity provider'})`);
    for (const p of signIn?.people ?? []) out(`    ${p.name.padEnd(12)} password ${p.password}  (group ${p.groups.join(', ')})`);
  }
  if (config.identity.devIssuer?.enabled) {
    const lines: string[] = [];
    await tokenCommand(['--sub', 'agent-1', '--groups', 'analysts'], runEnv, (l) => lines.push(l));
    const token = lines.at(-1)!;
    out('');
    out('Connect as agent-1 (group analysts) with a fresh development token, valid for one hour:');
    out(`  psql "postgresql://agent-1:${token}@127.0.0.1:${pgPort}/demo?sslmode=disable"`);
    out('Mint another: npx airlock token --sub <subject> --groups <g1,g2>');
  }
  out('Stop with Ctrl-C.');
  await new Promise<never>(() => undefined);
  return 0;
}

/**
 * The console's development sign-in: the demo's own OIDC provider, at the issuer the demo config names, for the
 * console at its redirect URI. `AIRLOCK_CONSOLE_PORT` and `AIRLOCK_DEMO_SIGN_IN_PORT` move them (0: any free port);
 * the config handed to the services then names where they listen.
 */
async function startDemoConsole(config: AirlockConfig, env: Record<string, string | undefined>): Promise<{ signIn: DemoSignIn; config: AirlockConfig; env: Record<string, string> }> {
  const oidc = config.console!.oidc!;
  const port = async (name: string, configured: string) => {
    const raw = env[name] || configured;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}=${raw} is not a port number`);
    return n === 0 ? freePort() : n;
  };
  const redirect = new URL(oidc.redirectUri);
  const consolePort = await port('AIRLOCK_CONSOLE_PORT', redirect.port);
  redirect.port = String(consolePort);
  const configuredIssuer = new URL(oidc.issuer);
  // loaded in demo mode only: outside it `airlock up` never runs an identity provider
  const { startDemoSignIn } = await import('@airlock/demo');
  const signInPort = Number(env['AIRLOCK_DEMO_SIGN_IN_PORT'] || configuredIssuer.port);
  const resources = consoleApis.map((api) => consoleResource(config, api));
  const signIn = await startDemoSignIn({ host: configuredIssuer.hostname, port: signInPort, clientId: oidc.clientId, redirectUri: redirect.href, resources }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new Error(`the demo's OIDC provider for the console cannot listen on ${configuredIssuer.hostname}:${signInPort}, which is in use: stop what uses it, or set AIRLOCK_DEMO_SIGN_IN_PORT (0: any free port)`);
  });
  const moved = structuredClone(config) as AirlockConfig;
  for (const i of moved.identity.issuers) if (i.issuer === oidc.issuer) i.issuer = signIn.issuer;
  moved.console!.oidc = { ...oidc, issuer: signIn.issuer, redirectUri: redirect.href };
  return {
    signIn,
    config: moved,
    // cookies of one run are worthless to the next
    env: { AIRLOCK_CONSOLE_PORT: String(consolePort), AIRLOCK_CONSOLE_SESSION_SECRET: env['AIRLOCK_CONSOLE_SESSION_SECRET'] || randomBytes(32).toString('base64url') },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Outside the demo, a NATS server that lets anyone connect without credentials lets anyone publish any request:
 * refused, unless the config says `bus.allowUnauthenticated: true` (then said loudly at every start).
 */
async function refuseOpenBus(natsUrl: string, allowed: boolean, logger: Logger): Promise<void> {
  let open = false;
  try {
    const nc = await connect({ servers: natsUrl, timeout: 5000, reconnect: false });
    open = true;
    await nc.close();
  } catch {
    // refused without credentials (or unreachable: the services' own connections say so next)
  }
  if (!open) return;
  if (!allowed) {
    throw new Error(
      `the NATS server at ${natsUrl} accepts connections without credentials, so anyone who reaches it can publish any request: ` +
        'run it with the per-service users of deploy/nats (AIRLOCK_NATS_USER, AIRLOCK_NATS_PASSWORD), or set bus.allowUnauthenticated: true in the config to accept the risk',
    );
  }
  logger.warn({ natsUrl }, 'WARNING: the bus accepts connections without credentials (bus.allowUnauthenticated: true): anyone who reaches it can publish any request');
}
