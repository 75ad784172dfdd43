// Runs every *.test.ts under the workspace with Node's test runner (TypeScript through tsx).
// Usage: node scripts/test.mjs [path-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['contracts', 'packages', 'services', 'test'];
const skip = new Set(['node_modules', 'dist', 'bench']);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(path);
  }
}
for (const root of roots) walk(root);
const filters = process.argv.slice(2);
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.AIRLOCK_TEST_CONCURRENCY ?? '2';
// a hung test fails with its name instead of holding CI until its deadline; the slowest test here (the scale-out
// run) takes about 70 s on two cores, so three minutes leaves room for a loaded machine
const timeoutMs = process.env.AIRLOCK_TEST_TIMEOUT_MS ?? '180000';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, '--test-reporter=spec', ...selected],
  { stdio: 'inherit', env: process.env },
);
process.exit(result.status ?? 1);
