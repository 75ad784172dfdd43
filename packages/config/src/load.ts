import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AirlockConfig } from './schema.js';

export class ConfigFileError extends Error {
  readonly problems: string[];
  constructor(path: string, problems: string[]) {
    super(`${path}: invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigFileError';
    this.problems = problems;
  }
}

/** The demo configuration shipped in the repository, used when AIRLOCK_CONFIG is not set. */
export const demoConfigPath: string = fileURLToPath(new URL('../../../deploy/config/demo.yaml', import.meta.url));

/** Reads, parses and validates the config file; every problem is reported at once with its line. */
export function loadConfigFile(path: string): AirlockConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return parseConfig(text, path);
}

const check = TypeCompiler.Compile(AirlockConfig);

/** Parses config text; pure except for the name used in messages. */
export function parseConfig(text: string, path = 'config'): AirlockConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const problems: string[] = [];
  for (const e of doc.errors) {
    // the parser gives an offset; the line counter turns it into the line and column an editor shows
    const pos = lineCounter.linePos(e.pos[0]);
    problems.push(`line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`);
  }
  if (problems.length > 0) throw new ConfigFileError(path, problems);
  const value: unknown = doc.toJS();
  if (!check.Check(value)) {
    const seen = new Set<string>();
    for (const e of check.Errors(value)) {
      const key = `${e.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(`line ${lineOf(doc, lineCounter, e.path)}: ${e.path || '/'} ${e.message}`);
    }
  }
  const cfg = value as AirlockConfig;
  if (problems.length === 0) problems.push(...crossCheck(cfg, doc, lineCounter));
  if (problems.length > 0) throw new ConfigFileError(path, problems);
  return deepFreeze(cfg);
}

function crossCheck(cfg: AirlockConfig, doc: Document, lc: LineCounter): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  cfg.policies.forEach((p, i) => {
    const at = `line ${lineOf(doc, lc, `/policies/${i}`)}`;
    if (names.has(p.name)) problems.push(`${at}: policy name "${p.name}" is used twice`);
    names.add(p.name);
    if (p.decision !== 'deny' && !p.role) problems.push(`${at}: policy "${p.name}" allows statements, so it must name a role`);
    if (p.decision === 'approval' && !p.approvers) problems.push(`${at}: policy "${p.name}" needs approvers`);
    if (p.role) {
      for (const [name, conn] of Object.entries(cfg.connections)) {
        const applies = !p.connections || p.connections.some((g) => globMatch(g, name));
        if (applies && !(p.role in conn.roles)) {
          problems.push(`${at}: policy "${p.name}" names role "${p.role}", which connection "${name}" does not map under roles`);
        }
      }
    }
  });
  for (const [name, conn] of Object.entries(cfg.connections)) {
    const pool = conn.leases?.pool;
    if (pool?.open !== undefined && pool.open > pool.size) {
      // each proxy's open connections come out of the pool: more than it holds would keep it drained
      problems.push(`line ${lineOf(doc, lc, `/connections/${name}`)}: connection "${name}" sets leases.pool.open (${pool.open}) above leases.pool.size (${pool.size})`);
    }
    if (conn.type === 'snowflake') {
      const at = `line ${lineOf(doc, lc, `/connections/${name}`)}`;
      if (conn.leases?.pool) problems.push(`${at}: connection "${name}" sets leases.pool, which only PostgreSQL connections have`);
      const strategy = conn.strategy ?? 'ephemeral-user';
      if (!conn.admin.privateKey && !conn.admin.privateKeyPath && !conn.admin.password) {
        problems.push(`${at}: connection "${name}" needs admin.privateKey, admin.privateKeyPath or admin.password`);
      }
      if (strategy === 'external-oauth' && !conn.externalOAuth) {
        problems.push(`${at}: connection "${name}" uses strategy external-oauth and needs externalOAuth settings`);
      }
    }
  }
  return problems;
}

function lineOf(doc: Document, lc: LineCounter, pointer: string): number | string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (let n = parts.length; n >= 0; n--) {
    const path = parts.slice(0, n).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const node = n === 0 ? doc.contents : doc.getIn(path, true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return '?';
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** `*` any run, `?` one character; case-insensitive; the whole name must match. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$',
    'i',
  );
  return re.test(name);
}

/**
 * Expands `${VAR}` and `${VAR:-default}` from the given environment. Only the service that needs a secret calls this,
 * so a secret named in the config file is resolved in that service's process alone.
 */
export function expandEnv(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, name: string, def: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (def !== undefined) return def;
    throw new Error(`environment variable ${name} is not set (named in the config file)`);
  });
}
