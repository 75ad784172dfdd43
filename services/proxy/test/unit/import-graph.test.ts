import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// The proxy's layers: front doors (frontends/) above the core (core/), the core above the engines (engines/).
// Dependencies point down, and nothing imports itself round a loop.

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The files under src/ that a file imports or re-exports from, type-only imports included, by path relative to src/. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(src, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
}

type Graph = ReadonlyMap<string, readonly string[]>;

function proxyGraph(): Graph {
  return new Map(sources(src).map((f) => [relative(src, f), importsOf(f)]));
}

/** Every import cycle, each as the path that closes it (a → b → a), found by depth-first search. */
function cycles(graph: Graph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

const layer = (file: string) => file.split('/')[0]!;
/** What each layer may not import: a front door from below, the core from the engines. */
const forbidden: Readonly<Record<string, readonly string[]>> = { core: ['frontends'], engines: ['frontends', 'core'] };

function upwardImports(graph: Graph): string[] {
  return [...graph].flatMap(([file, imports]) =>
    imports.filter((i) => (forbidden[layer(file)] ?? []).includes(layer(i))).map((i) => `${file} imports ${i}`),
  );
}

describe('the proxy import graph', () => {
  const graph = proxyGraph();

  it('sees the whole source tree and its imports', () => {
    // not vacuous: the layers are there, and the imports between them are read
    for (const f of ['core/session.ts', 'core/gateway.ts', 'engines/engine.ts', 'frontends/pgwire/server.ts', 'frontends/snowflake/sql-api.ts', 'service.ts']) {
      assert.ok(graph.has(f), `${f} is scanned`);
    }
    assert.ok(graph.get('frontends/pgwire/server.ts')!.includes('core/session.ts'));
    assert.ok(graph.get('engines/postgres/upstream.ts')!.includes('engines/engine.ts'));
    for (const [file, imports] of graph) for (const i of imports) assert.ok(graph.has(i), `${file} imports ${i}, which is not a source file`);
  });

  it('has no import cycle', () => {
    assert.deepEqual(cycles(graph).map((c) => c.join(' → ')), []);
  });

  it('has no import from engines/ or core/ into frontends/, nor from engines/ into core/', () => {
    assert.deepEqual(upwardImports(graph), []);
  });

  it('front doors hold neither the bus nor the config', () => {
    const touches = /\bBus\b|\bbus\.call\b|\bctx\.config\b|\bconfig\.|AirlockConfig|@airlock\/config|ProxyContext/;
    const offenders = [...graph.keys()].filter((f) => layer(f) === 'frontends' && touches.test(readFileSync(join(src, f), 'utf8')));
    assert.deepEqual(offenders, []);
  });

  it('the checks find what they look for', () => {
    const g: Graph = new Map([
      ['frontends/a.ts', ['core/b.ts']],
      ['core/b.ts', ['engines/c.ts', 'frontends/d.ts']],
      ['engines/c.ts', ['core/b.ts']],
      ['frontends/d.ts', []],
    ]);
    assert.deepEqual(cycles(g), [['core/b.ts', 'engines/c.ts', 'core/b.ts']]);
    assert.deepEqual(upwardImports(g), ['core/b.ts imports frontends/d.ts', 'engines/c.ts imports core/b.ts']);
  });
});
