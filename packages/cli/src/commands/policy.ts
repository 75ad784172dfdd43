import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { demoConfigPath, loadConfigFile } from '@airlock/config';
import { credentialV1, type ColumnRef } from '@airlock/contracts';
import { Bus, commonEnv, createLogger, newContext, readEnv } from '@airlock/runtime';
import { evaluate, initParsers, staticCatalog, type Catalog } from '@airlock/policy';
import { readSnapshot, snapshotToCatalog } from '../policy-as-code/snapshot.js';
import { policySnapshotCommand, policySnapshotUsage, policyTestCommand, policyTestUsage } from './policy-test.js';

const checkUsage = 'airlock policy check --connection <name> --as <subject> --groups <g1,g2> --sql "<statement>" [--snapshot <file>] [--json]';
export const policyUsage = [checkUsage, policyTestUsage, policySnapshotUsage].join('\n       ');

const col = (c: ColumnRef) => `${c.schema}.${c.table}.${c.column}`;

export async function policyCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (args.includes('--help') || args.includes('-h')) {
    out(`usage: ${policyUsage}`);
    return 0;
  }
  if (sub === 'test') return policyTestCommand(rest, env, out);
  if (sub === 'snapshot') return policySnapshotCommand(rest, env, out);
  if (sub !== 'check') throw new Error(`usage: ${policyUsage}`);
  return policyCheck(rest, env, out);
}

/** Explains a decision: the rule, the lineage of each output column and the masking plan — the same as the audit event. */
async function policyCheck(rest: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: {
      connection: { type: 'string' },
      as: { type: 'string', default: 'agent' },
      groups: { type: 'string', default: '' },
      sql: { type: 'string' },
      json: { type: 'boolean', default: false },
      snapshot: { type: 'string' },
    },
    strict: true,
  });
  if (!values.connection || !values.sql) throw new Error(`--connection and --sql are required\nusage: ${checkUsage}`);
  const common = readEnv(env, commonEnv);
  const config = loadConfigFile(common.configPath ?? demoConfigPath);
  if (!config.connections[values.connection]) throw new Error(`connection "${values.connection}" is not in the config file`);
  await initParsers();
  // with --json, stdout carries the decision alone: the note about the catalogue goes to stderr
  const note = values.json ? (line: string) => process.stderr.write(`${line}\n`) : out;
  const { catalog, complete } = values.snapshot ? snapshotCatalog(values.snapshot, values.connection) : await fetchCatalog(common, values.connection, note);
  const principal = {
    subject: values.as,
    issuer: 'airlock-policy-check',
    groups: values.groups.split(',').map((g) => g.trim()).filter(Boolean),
  };
  const decision = evaluate({ config, principal, connection: values.connection, sql: values.sql, catalog, requestId: randomUUID(), catalogIncomplete: !complete });
  if (values.json) {
    out(JSON.stringify(decision, null, 2));
    return decision.outcome === 'deny' ? 2 : 0;
  }
  out(`decision:  ${decision.outcome}${decision.code ? ` (${decision.code})` : ''}`);
  out(`rule:      ${decision.rule ?? '(none)'}`);
  out(`reason:    ${decision.reason}`);
  if (decision.scope) out(`scope:     role ${decision.scope.role}, lease per ${decision.scope.leaseMode}, ttl ${decision.scope.ttlSeconds}s`);
  if (decision.approval) out(`approval:  ${decision.approval.quorum} of ${decision.approval.approverGroups.join(', ')}`);
  const a = decision.analysis;
  if (a) {
    out(`statement: ${a.kinds.join(', ')} on ${a.tables.map((t) => `${t.schema}.${t.table} (${t.access})`).join(', ') || 'no table'}`);
    out('columns:');
    a.outputColumns.forEach((c, i) => {
      const plan = decision.masking.columns.find((p) => p.index === i);
      const action = plan?.action ? (plan.action.kind === 'partial' ? `partial ${plan.action.keep}` : plan.action.kind) : 'clear';
      out(`  ${i + 1}. ${c.name}  ← ${c.sources.map(col).join(', ') || '(no column)'}${c.exact ? '' : '  [lineage unknown: every column read]'}  → ${action}`);
    });
    if (decision.masking.maskUnlisted) out('  (columns the analysis cannot place are redacted)');
    if (a.usages.length) out(`used in clauses: ${a.usages.map((u) => `${col(u.column)} (${u.clause})`).join(', ')}`);
  }
  if (decision.allowList?.length) {
    out('allow-list:');
    for (const v of decision.allowList) out(`  ${v.kind} ${v.name} (${v.class}): ${v.allowed ? 'allowed' : 'refused'} — ${v.reason}`);
  }
  out(`detectors: ${decision.masking.detectors.join(', ') || 'none'}`);
  return decision.outcome === 'deny' ? 2 : 0;
}

/** The connection's catalogue from a snapshot file (`airlock policy snapshot`): no bus needed. */
function snapshotCatalog(file: string, connection: string): { catalog: Catalog; complete: boolean } {
  const s = readSnapshot(file);
  if (s.connection !== connection) throw new Error(`${file} is a snapshot of connection "${s.connection}", not "${connection}"`);
  return { catalog: snapshotToCatalog(s), complete: true };
}

/** The connection's catalogue from the running credential service; without it `*` cannot be expanded. */
async function fetchCatalog(
  common: ReturnType<typeof readEnv<typeof commonEnv>>,
  connection: string,
  out: (line: string) => void,
): Promise<{ catalog: Catalog; complete: boolean }> {
  const logger = createLogger({ service: 'cli', level: 'silent' });
  let bus: Bus | undefined;
  try {
    bus = await Bus.connect({ url: common.natsUrl, root: common.subjectRoot, service: 'cli', logger });
    const res = await bus.call(credentialV1.catalog, { connection }, newContext(), { timeoutMs: 3000 });
    const tables: Record<string, string[]> = {};
    for (const t of res.tables) tables[`${t.schema}.${t.table}`] = t.columns;
    return { catalog: staticCatalog(tables, res.searchPath), complete: true };
  } catch {
    out('note: the credential service did not answer, so `*` cannot be expanded from the catalogue and relations are not checked against it');
    return { catalog: staticCatalog({}), complete: false };
  } finally {
    await bus?.close();
  }
}
