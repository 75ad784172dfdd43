/**
 * Time of the PostgreSQL analysis per statement: the first (cold) call and the median over 10,000 runs of a typical
 * join, next to the bare libpg-query parse of the same text (the direct path the analysis builds on).
 * Run: node --import tsx test/bench/policy-analysis.ts
 */
import { performance } from 'node:perf_hooks';
import { loadModule, parseSync } from 'libpg-query';
import { analyze, initParsers, staticCatalog } from '../../services/policy/src/analysis/index.js';

const RUNS = 10_000;
const catalog = staticCatalog({
  'public.customers': ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'],
  'public.orders': ['id', 'customer_id', 'total', 'created_at'],
});
const sql =
  'SELECT c.id, c.name, c.email, sum(o.total) AS spent, count(*) AS n FROM customers c JOIN orders o ON o.customer_id = c.id ' +
  "WHERE o.created_at > now() - interval '30 days' GROUP BY c.id, c.name, c.email ORDER BY spent DESC LIMIT 20";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(fn: () => unknown): { median: number; p99: number } {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { median: median(times), p99: sorted[Math.floor(sorted.length * 0.99)] };
}

// Loaded by hand first, to see the cost that initParsers() moves to start-up with its warm-up statement.
const loadStart = performance.now();
await loadModule();
const load = performance.now() - loadStart;

const coldStart = performance.now();
analyze(sql, 'postgres', catalog);
const cold = performance.now() - coldStart;

const initStart = performance.now();
await initParsers();
const init = performance.now() - initStart;

const otherSql = 'SELECT o.id, c.phone FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.total > 100 ORDER BY o.id';
const secondStart = performance.now();
analyze(otherSql, 'postgres', catalog);
const second = performance.now() - secondStart;

const parse = measure(() => parseSync(sql));
const full = measure(() => analyze(sql, 'postgres', catalog));

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
console.table([
  { step: 'load libpg-query (WASM)', time: us(load) },
  { step: 'analyze, first call after load (cold)', time: us(cold) },
  { step: 'initParsers() with its warm-up, after the above', time: us(init) },
  { step: 'analyze, first call of another statement', time: us(second) },
  { step: `libpg-query parseSync alone, median of ${RUNS}`, time: us(parse.median), p99: us(parse.p99) },
  { step: `analyze (parse + lineage + fingerprint), median of ${RUNS}`, time: us(full.median), p99: us(full.p99) },
]);
