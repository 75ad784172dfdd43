import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { demoConfigPath, loadConfigFile } from '@airlock/config';
import { initParsers, type Catalog } from '@airlock/policy';
import { fixtureFiles, loadFixtures } from '../policy-as-code/fixtures.js';
import { fixturesCount, formatResults, runFixtures } from '../policy-as-code/run.js';
import { snapshotsIn, snapshotText } from '../policy-as-code/snapshot.js';

export const policyTestUsage = 'airlock policy test [dir or file] [--config <file>]';
export const policySnapshotUsage = 'airlock policy snapshot --connection <name> [--out <file>] [--config <file>]';

/** The demo's own fixtures and catalogue snapshots, beside the demo config. */
export const demoFixturesPath: string = fileURLToPath(new URL('../../../../deploy/config/policy-tests', import.meta.url));

const configPath = (flag: string | undefined, env: Record<string, string | undefined>) => flag || env['AIRLOCK_CONFIG'] || demoConfigPath;

/**
 * Runs policy fixtures against a config with no NATS and no database: the catalogue of each connection comes from the
 * snapshot files (`*.catalog.json`) beside the fixtures. Exit code 1 when any fixture does not match.
 */
export async function policyTestCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { config: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new Error(`one fixture directory or file at most\nusage: ${policyTestUsage}`);
  const path = positionals[0] ?? demoFixturesPath;
  if (!existsSync(path)) throw new Error(`${path}: no such fixture directory or file`);
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const cfgPath = configPath(values.config, env);
  const config = loadConfigFile(cfgPath);
  const files = fixtureFiles(path);
  const fixtures = files.flatMap((f) => loadFixtures(f, relative(process.cwd(), f)));
  if (fixtures.length === 0) throw new Error(`${path}: no fixture files (*.yaml) found`);
  const snapshots = snapshotsIn(dir);
  const problems: string[] = [];
  const names = new Map<string, string>();
  for (const f of fixtures) {
    const first = names.get(f.name);
    if (first) problems.push(`${f.where}: fixture name "${f.name}" is used twice (first at ${first})`);
    names.set(f.name, f.where);
    if (!config.connections[f.connection]) problems.push(`${f.where}: connection "${f.connection}" is not in the config file ${cfgPath}`);
    else if (!snapshots.has(f.connection)) {
      problems.push(`${f.where}: connection "${f.connection}" has no catalogue snapshot in ${dir}; write one with airlock policy snapshot --connection ${f.connection} --out ${dir}/${f.connection}.catalog.json`);
    }
  }
  if (problems.length > 0) throw new Error(`policy fixtures cannot run:\n  - ${problems.join('\n  - ')}`);
  await initParsers();
  const catalogs = new Map<string, Catalog>([...snapshots].map(([name, s]) => [name, s.catalog]));
  const results = runFixtures(config, fixtures, catalogs);
  out(`${fixturesCount(fixtures.length)} from ${relative(process.cwd(), path) || '.'} against ${relative(process.cwd(), cfgPath)}`);
  out('');
  for (const line of formatResults(results)) out(line);
  return results.every((r) => r.mismatches.length === 0) ? 0 : 1;
}

/** Writes a connection's catalogue, read with its admin principal, as a snapshot for `airlock policy test`. */
export async function policySnapshotCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { connection: { type: 'string' }, out: { type: 'string' }, config: { type: 'string' } }, strict: true });
  if (!values.connection) throw new Error(`--connection is required\nusage: ${policySnapshotUsage}`);
  const config = loadConfigFile(configPath(values.config, env));
  const connection = config.connections[values.connection];
  if (!connection) throw new Error(`connection "${values.connection}" is not in the config file`);
  const { takeSnapshot } = await import('../policy-as-code/take-snapshot.js');
  const snapshot = await takeSnapshot(values.connection, connection, env);
  const text = snapshotText(snapshot);
  if (!values.out) {
    process.stdout.write(text);
    return 0;
  }
  writeFileSync(values.out, text);
  out(`wrote ${values.out}: ${snapshot.tables.length} tables of connection "${values.connection}"`);
  return 0;
}
