// Renders deploy/helm/airlock without Helm, for the static checks in test/deploy/static.test.ts.
// It implements only the subset of Go templates the chart uses, and fails on anything else rather than guessing:
//   {{ .Values.x }}, {{ $.Values.x }}, {{ $var.x }}, .Release.Name, .Release.Namespace, .Chart.Name/.Version/.AppVersion,
//   {{- / -}} trimming, define / include, if / else / end, range (lists and maps, optionally `$k, $v :=` or `$v :=`),
//   variable declarations `{{ $x := pipeline }}` (scoped to the enclosing if / range, as in Go; no `=` reassignment),
//   pipelines with the functions toYaml, nindent, indent, default, quote, printf (%s and %d), list, splitList, index,
//   not, b64enc, lookup, genCA, genSignedCert, and string/number literals.
// Map ranges iterate in sorted key order, as Go does; printing a missing value is recorded as a problem.
// lookup finds nothing, as on a fresh install (or under `helm template`); genCA and genSignedCert make a real CA and a
// real certificate signed by it (with the selfsigned package), so the checks can verify what the chart would ship.
//
// Usage: node --import tsx scripts/helm-render.ts [chart-dir] > rendered.yaml
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

type Value = unknown;
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: string }
  | { kind: 'assign'; name: string; pipeline: string }
  | { kind: 'if'; cond: string; then: Node[]; else: Node[] }
  | { kind: 'range'; vars: string[]; expr: string; body: Node[] };

interface Token {
  kind: 'text' | 'action';
  text: string;
}

function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open === -1) {
      out.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error(`${file}: unclosed {{`);
    let body = src.slice(open + 2, close);
    if (body.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    let next = close + 2;
    if (body.endsWith('-')) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    out.push({ kind: 'text', text });
    const trimmed = body.trim();
    if (!trimmed.startsWith('/*')) out.push({ kind: 'action', text: trimmed });
    i = next;
  }
  return out.filter((t) => t.kind === 'action' || t.text !== '');
}

/** Parses tokens into nodes; `define` blocks are collected into `defines`. */
function parseNodes(tokens: Token[], file: string, defines: Map<string, Node[]>): Node[] {
  let pos = 0;
  const block = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t.kind === 'text') {
        nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const word = t.text.split(/\s+/)[0]!;
      if (terminators.includes(word)) return { nodes, end: t.text };
      if (word === 'define') {
        const name = JSON.parse(t.text.slice('define'.length).trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (word === 'if') {
        const cond = t.text.slice(2).trim();
        const a = block(['else', 'end']);
        const b = a.end === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'if', cond, then: a.nodes, else: b });
      } else if (word === 'range') {
        const rest = t.text.slice(5).trim();
        const m = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$/.exec(rest);
        const vars = m ? [m[1]!, ...(m[2] ? [m[2]] : [])] : [];
        nodes.push({ kind: 'range', vars, expr: m ? m[3]! : rest, body: block(['end']).nodes });
      } else if (['else', 'end', 'with', 'template', 'block', 'tpl'].includes(word)) {
        throw new Error(`${file}: "{{ ${t.text} }}" is outside the supported template subset`);
      } else {
        const assign = /^(\$\w+)\s*:=\s*(.+)$/.exec(t.text);
        if (assign) nodes.push({ kind: 'assign', name: assign[1]!, pipeline: assign[2]! });
        else if (/^\$\w+\s*=[^=]/.test(t.text)) throw new Error(`${file}: "{{ ${t.text} }}" is outside the supported template subset`);
        else nodes.push({ kind: 'action', pipeline: t.text });
      }
    }
    if (terminators.length > 0) throw new Error(`${file}: missing {{ end }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

interface Scope {
  dot: Value;
  root: Value;
  vars: Map<string, Value>;
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"(?:[^"\\]|\\.)*"|[^\s]+/g;
  for (const m of s.matchAll(re)) out.push(m[0]);
  return out;
}

/** What Sprig's genCA and genSignedCert return: the certificate and its private key, in PEM. */
interface Certificate {
  Cert: string;
  Key: string;
}

// selfsigned generates only asynchronously: a child Node process keeps the renderer synchronous, as Helm's functions are
const certificateScript = `
import { generate } from 'selfsigned';
const { cn, days, extensions, ca } = JSON.parse(process.argv[1]);
const pems = await generate([{ name: 'commonName', value: cn }], {
  keyType: 'rsa', keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + days * 86400000), extensions,
  ...(ca ? { ca: { key: ca.Key, cert: ca.Cert } } : {}),
});
process.stdout.write(JSON.stringify({ Cert: pems.cert, Key: pems.private }));
`;
const repoDir = fileURLToPath(new URL('..', import.meta.url));

function certificate(cn: Value, days: Value, extensions: unknown[], ca: Certificate | undefined, where: string): Certificate {
  if (typeof cn !== 'string' || !Number.isInteger(days) || (days as number) < 1) throw new Error(`${where}: a certificate needs a name and a whole number of days`);
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', certificateScript, JSON.stringify({ cn, days, extensions, ca })], { cwd: repoDir, encoding: 'utf8' });
  return JSON.parse(out) as Certificate;
}

/** Sprig's genCA: a CA certificate that signs server certificates only. */
function genCA(cn: Value, days: Value, where: string): Certificate {
  const extensions = [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true, critical: true },
  ];
  return certificate(cn, days, extensions, undefined, where);
}

/** Sprig's genSignedCert: a certificate for the IP addresses and DNS names given, signed by `ca`. */
function genSignedCert(cn: Value, ips: Value, names: Value, days: Value, ca: Value, where: string): Certificate {
  const list = (v: Value): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
  if (list(ips).some((ip) => isIP(ip) === 0)) throw new Error(`${where}: genSignedCert: not an IP address in ${JSON.stringify(ips)}`);
  const signer = ca as Partial<Certificate> | undefined;
  if (typeof signer?.Cert !== 'string' || typeof signer.Key !== 'string') throw new Error(`${where}: genSignedCert needs a CA from genCA`);
  const extensions = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [...list(ips).map((ip) => ({ type: 7, ip })), ...list(names).map((value) => ({ type: 2, value }))] },
  ];
  return certificate(cn, days, extensions, { Cert: signer.Cert, Key: signer.Key }, where);
}

/** Go's fmt verbs the chart uses: %s and %d. */
function printf(format: Value, args: Value[], where: string): string {
  let i = 0;
  return String(format).replace(/%(.)/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    if (verb !== 's' && verb !== 'd') throw new Error(`${where}: printf verb %${verb} is outside the supported template subset`);
    if (i >= args.length) throw new Error(`${where}: printf has fewer arguments than verbs`);
    return String(args[i++]);
  });
}

export interface RenderResult {
  /** each rendered template file, keyed by its path under templates/ */
  files: Record<string, string>;
  /** every non-empty YAML document, with the file it came from */
  documents: Array<{ file: string; doc: Record<string, any> }>;
  /** values printed while missing, and similar problems Helm would silently render as empty */
  problems: string[];
}

function deepMerge(base: any, over: any): any {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
    return out;
  }
  return over;
}

export function renderChart(
  chartDir: string,
  options: { values?: Record<string, unknown>; releaseName?: string; namespace?: string } = {},
): RenderResult {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = deepMerge(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')), options.values ?? {});
  const root = {
    Values: values,
    Release: { Name: options.releaseName ?? 'airlock', Namespace: options.namespace ?? 'default', Service: 'Helm' },
    Chart: { Name: chart['name'], Version: chart['version'], AppVersion: chart['appVersion'] },
  };
  const problems: string[] = [];
  const defines = new Map<string, Node[]>();
  const dir = join(chartDir, 'templates');
  const names = readdirSync(dir).sort();
  const parsed = new Map<string, Node[]>();
  for (const name of names) {
    const nodes = parseNodes(tokenize(readFileSync(join(dir, name), 'utf8'), name), name, defines);
    if (!name.startsWith('_')) parsed.set(name, nodes);
  }

  const resolve = (expr: string, scope: Scope, where: string): Value => {
    if (expr.startsWith('"')) return JSON.parse(expr) as string;
    if (/^-?\d+(\.\d+)?$/.test(expr)) return Number(expr);
    if (expr === 'true' || expr === 'false') return expr === 'true';
    let base: Value;
    let path: string;
    if (expr === '.') return scope.dot;
    if (expr.startsWith('$')) {
      const m = /^(\$\w*)(.*)$/.exec(expr)!;
      if (m[1] === '$') base = scope.root;
      else if (scope.vars.has(m[1]!)) base = scope.vars.get(m[1]!);
      else throw new Error(`${where}: undefined variable ${m[1]}`);
      path = m[2]!;
    } else if (expr.startsWith('.')) {
      base = scope.dot;
      path = expr;
    } else {
      throw new Error(`${where}: "${expr}" is outside the supported template subset`);
    }
    for (const key of path.split('.').filter(Boolean)) {
      base = base !== null && typeof base === 'object' ? (base as Record<string, unknown>)[key] : undefined;
    }
    return base;
  };

  const call = (fn: string, args: Value[], where: string): Value => {
    switch (fn) {
      case 'include': {
        const body = defines.get(args[0] as string);
        if (!body) throw new Error(`${where}: no template named ${String(args[0])}`);
        return renderNodes(body, { dot: args[1], root: args[1], vars: new Map() }, where).replace(/^\n+/, '');
      }
      case 'toYaml':
        return args[0] === undefined || args[0] === null ? '' : stringify(args[0], { lineWidth: 0 }).replace(/\n$/, '');
      case 'nindent':
      case 'indent': {
        const pad = ' '.repeat(Number(args[0]));
        const text = String(args[1] ?? '')
          .split('\n')
          .map((l) => pad + l)
          .join('\n');
        return fn === 'nindent' ? `\n${text}` : text;
      }
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'quote':
        return JSON.stringify(args[0] === undefined || args[0] === null ? '' : String(args[0]));
      case 'printf':
        return printf(args[0], args.slice(1), where);
      case 'list':
        return args;
      case 'splitList':
        return String(args[1]).split(String(args[0]));
      case 'index':
        return args.slice(1).reduce((v: Value, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined), args[0]);
      case 'not':
        return !truthy(args[0]);
      case 'b64enc':
        return Buffer.from(String(args[0])).toString('base64');
      case 'lookup':
        // a fresh install: no object exists yet (what `helm template` and a dry run see too)
        if (args.length !== 4) throw new Error(`${where}: lookup takes apiVersion, kind, namespace and name`);
        return {};
      case 'genCA':
        return genCA(args[0], args[1], where);
      case 'genSignedCert':
        return genSignedCert(args[0], args[1], args[2], args[3], args[4], where);
      default:
        throw new Error(`${where}: function "${fn}" is outside the supported template subset`);
    }
  };

  const evaluate = (pipeline: string, scope: Scope, where: string): Value => {
    let acc: Value = undefined;
    let first = true;
    for (const stage of pipeline.split('|').map((s) => s.trim())) {
      const [head, ...rest] = splitArgs(stage);
      const args = rest.map((a) => resolve(a, scope, where));
      if (head === undefined) throw new Error(`${where}: empty pipeline`);
      const isFn = /^[a-zA-Z]\w*$/.test(head) && !['true', 'false'].includes(head);
      if (isFn) acc = call(head, first ? args : [...args, acc], where);
      else {
        if (!first || rest.length > 0) throw new Error(`${where}: cannot apply "${stage}"`);
        acc = resolve(head, scope, where);
      }
      first = false;
    }
    return acc;
  };

  const renderNodes = (nodes: Node[], scope: Scope, where: string): string => {
    let out = '';
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text;
      else if (n.kind === 'assign') scope.vars.set(n.name, evaluate(n.pipeline, scope, where));
      else if (n.kind === 'action') {
        const v = evaluate(n.pipeline, scope, where);
        if (v === undefined || v === null) {
          problems.push(`${where}: {{ ${n.pipeline} }} has no value`);
          continue;
        }
        out += typeof v === 'object' ? JSON.stringify(v) : String(v);
      } else if (n.kind === 'if') {
        // a variable declared inside an if lives until its end, as in Go
        const inner = { ...scope, vars: new Map(scope.vars) };
        out += renderNodes(truthy(evaluate(n.cond, scope, where)) ? n.then : n.else, inner, where);
      } else {
        const coll = evaluate(n.expr, scope, where);
        const entries: Array<[Value, Value]> = Array.isArray(coll)
          ? coll.map((v, i) => [i, v])
          : coll && typeof coll === 'object'
            ? Object.keys(coll as object)
                .sort()
                .map((k) => [k, (coll as Record<string, unknown>)[k]])
            : [];
        for (const [k, v] of entries) {
          const vars = new Map(scope.vars);
          if (n.vars.length === 1) vars.set(n.vars[0]!, v);
          if (n.vars.length === 2) {
            vars.set(n.vars[0]!, k);
            vars.set(n.vars[1]!, v);
          }
          out += renderNodes(n.body, { dot: v, root: scope.root, vars }, where);
        }
      }
    }
    return out;
  };

  const files: Record<string, string> = {};
  const documents: RenderResult['documents'] = [];
  for (const [name, nodes] of parsed) {
    const text = renderNodes(nodes, { dot: root, root, vars: new Map() }, name);
    files[name] = text;
    for (const part of text.split(/^---\s*$/m)) {
      if (part.trim() === '' || part.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('#'))) continue;
      const doc = parse(part, { strict: true, uniqueKeys: true }) as Record<string, any>;
      documents.push({ file: name, doc });
    }
  }
  return { files, documents, problems };
}

export const chartDir = fileURLToPath(new URL('../deploy/helm/airlock', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = renderChart(process.argv[2] ?? chartDir);
  for (const [name, text] of Object.entries(result.files)) process.stdout.write(`---\n# Source: airlock/templates/${name}\n${text.trim()}\n`);
  for (const p of result.problems) process.stderr.write(`problem: ${p}\n`);
  if (result.problems.length > 0) process.exitCode = 1;
}
