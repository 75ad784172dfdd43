// Masking benchmark (not a test): streams 1,000,000 demo-like `customers` rows through the direct path, the masking
// path and the detectors-only path in one process, prints a table and writes test/bench/results/masking.json.
// Run: node --import tsx test/bench/masking.ts [rows]
// The direct path only copies and reads rows already in memory (no network, no protocol parsing), so "time / direct"
// is the masking cost against an empty loop, not the proxy overhead a client sees. "cells/CPU-s" divides by the
// process's CPU time, the per-core figure, which other load on the machine disturbs less than wall time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { MaskingPlan } from '@airlock/contracts';
import { allDetectors, createMasker, type MaskStats } from '../../packages/masking/src/index.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const COLUMNS = ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'] as const;
const POOL_SIZE = 4096; // distinct rows; each yielded row is a fresh copy, since maskRow works in place
const RUNS = 3; // each path is timed this many times and the median is reported
const WARMUP_ROWS = 100_000;
const HASH_KEY = 'bench-only-key-not-a-secret';

/** Deterministic PRNG (mulberry32) so every run measures the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Eve', 'Farah', 'Guo', 'Hana', 'Ivan', 'Jürgen', 'Kofi', 'Lena', 'Mateo', 'Nia'];
const LAST = ['Lee', 'Smith', 'García', 'Okafor', 'Nakamura', 'Novak', 'Dubois', 'Brown', 'Müller', 'Kowalski', 'Haddad'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example.co.uk'];
const PLAIN_NOTES = [
  'Prefers email contact',
  'Asked to update billing address',
  'VIP customer since 2019',
  'Refund of 129.99 issued',
  'Delivery window 09:00-12:00',
  'Called about a late delivery, resolved',
  'Do not call before noon',
  'Loyalty tier: gold',
  '',
];

function luhnCard(rand: () => number, prefix: string, length: number): string {
  const digits = prefix.split('').map(Number);
  while (digits.length < length - 1) digits.push(Math.floor(rand() * 10));
  let sum = 0;
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = digits[i];
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  digits.push((10 - (sum % 10)) % 10);
  return digits.join('');
}

function grouped(card: string, sep: string): string {
  return card.match(/.{1,4}/g)!.join(sep);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function buildPool(): Array<Array<string | null>> {
  const rand = prng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const pool: Array<Array<string | null>> = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const email = `${first.toLowerCase()}.${last.toLowerCase()}${Math.floor(rand() * 100)}@${pick(DOMAINS)}`;
    const area = 200 + Math.floor(rand() * 700);
    const phone = rand() < 0.5 ? `(${area}) 555-${pad(Math.floor(rand() * 10000), 4)}` : `+1 ${area} 555 ${pad(Math.floor(rand() * 10000), 4)}`;
    const card = grouped(luhnCard(rand, pick(['4', '51', '55', '6011']), 16), rand() < 0.5 ? ' ' : '-');
    const ssn = `${pad(100 + Math.floor(rand() * 560), 3)}-${pad(10 + Math.floor(rand() * 89), 2)}-${pad(1000 + Math.floor(rand() * 8999), 4)}`;
    const r = rand();
    let notes: string | null;
    if (r < 0.05) notes = `Paid with card ${grouped(luhnCard(rand, '4', 16), ' ')} at checkout`;
    else if (r < 0.1) notes = `Send receipts to ${first.toLowerCase()}@${pick(DOMAINS)} please`;
    else if (r < 0.2) notes = `Order ${10000 + Math.floor(rand() * 90000)} placed 2024-${pad(1 + Math.floor(rand() * 12), 2)}-${pad(1 + Math.floor(rand() * 28), 2)}, total ${(rand() * 500).toFixed(2)}`;
    else if (r < 0.25) notes = null;
    else notes = pick(PLAIN_NOTES);
    pool.push([String(1000 + i), `${first} ${last}`, email, phone, card, ssn, notes]);
  }
  return pool;
}

/** Streams `count` fresh rows (copies of pool rows), as an upstream driver would hand them over one by one. */
function* rows(pool: ReadonlyArray<Array<string | null>>, count: number): Generator<Array<string | null>> {
  for (let i = 0; i < count; i++) yield pool[i % POOL_SIZE].slice();
}

/** Touches every value so the direct path does the same per-cell read as the masking paths. */
function touch(row: Array<string | null>): number {
  let n = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v !== null) n += v.length;
  }
  return n;
}

interface PathResult {
  path: string;
  rows: number;
  cells: number;
  /** median wall-clock seconds of the timed runs */
  seconds: number;
  cellsPerSecond: number;
  /** median process CPU seconds (user + system) of the timed runs: the per-core figure, less sensitive to other load */
  cpuSeconds: number;
  cellsPerCpuSecond: number;
  /** fastest of the timed runs */
  bestSeconds: number;
  timeVsDirect: number;
  maskedCells: number | null;
  detected: MaskStats['detected'] | null;
}

const maskingPlan: MaskingPlan = {
  columns: [
    { index: 0, name: 'id', action: null },
    { index: 1, name: 'name', action: null },
    { index: 2, name: 'email', action: { kind: 'email' } },
    { index: 3, name: 'phone', action: { kind: 'partial', keep: 4 } },
    { index: 4, name: 'card_number', action: { kind: 'partial', keep: 4 } },
    { index: 5, name: 'ssn', action: { kind: 'redact' } },
    { index: 6, name: 'notes', action: null },
  ],
  maskUnlisted: true,
  detectors: [...allDetectors],
};
const hashPlan: MaskingPlan = {
  ...maskingPlan,
  columns: maskingPlan.columns.map((c) => (c.name === 'ssn' ? { ...c, action: { kind: 'hash' as const } } : c)),
};
const detectorsOnlyPlan: MaskingPlan = { columns: [], maskUnlisted: false, detectors: [...allDetectors] };

type Runner = (count: number) => { sink: number; stats: MaskStats | null };

function direct(pool: ReadonlyArray<Array<string | null>>): Runner {
  return (count) => {
    let sink = 0;
    for (const row of rows(pool, count)) sink += touch(row);
    return { sink, stats: null };
  };
}

function masked(pool: ReadonlyArray<Array<string | null>>, plan: MaskingPlan): Runner {
  return (count) => {
    const masker = createMasker({ plan, hashKey: HASH_KEY, columnCount: COLUMNS.length });
    let sink = 0;
    for (const row of rows(pool, count)) sink += touch(masker.maskRow(row));
    return { sink, stats: masker.stats };
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(run: Runner): { seconds: number; cpuSeconds: number; bestSeconds: number; stats: MaskStats | null } {
  run(WARMUP_ROWS);
  const wall: number[] = [];
  const cpu: number[] = [];
  let stats: MaskStats | null = null;
  let sink = 0;
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const out = run(ROWS);
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    sink += out.sink;
    stats = out.stats;
  }
  if (sink === 0) throw new Error('benchmark produced no data');
  return { seconds: median(wall), cpuSeconds: median(cpu), bestSeconds: Math.min(...wall), stats };
}

const loadAtStart = loadavg()[0];
const pool = buildPool();
const paths: Array<[string, Runner]> = [
  ['direct (no masking)', direct(pool)],
  ['masking: 4 column actions + all detectors', masked(pool, maskingPlan)],
  ['detectors only (all 7 columns)', masked(pool, detectorsOnlyPlan)],
  ['masking, ssn hashed (HMAC) instead of redacted', masked(pool, hashPlan)],
];

const cells = ROWS * COLUMNS.length;
const results: PathResult[] = [];
let directSeconds = 0;
for (const [name, run] of paths) {
  const { seconds, cpuSeconds, bestSeconds, stats } = time(run);
  if (results.length === 0) directSeconds = seconds;
  results.push({
    path: name,
    rows: ROWS,
    cells,
    seconds,
    cellsPerSecond: cells / seconds,
    cpuSeconds,
    cellsPerCpuSecond: cells / cpuSeconds,
    bestSeconds,
    timeVsDirect: seconds / directSeconds,
    maskedCells: stats?.maskedCells ?? null,
    detected: stats?.detected ?? null,
  });
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const header = ['path', 'rows', 'cells', 'seconds', 'cells/s', 'cells/CPU-s', 'best s', 'time / direct', 'masked cells'];
const table = results.map((r) => [
  r.path,
  fmt(r.rows),
  fmt(r.cells),
  r.seconds.toFixed(3),
  fmt(r.cellsPerSecond),
  fmt(r.cellsPerCpuSecond),
  r.bestSeconds.toFixed(3),
  `${r.timeVsDirect.toFixed(2)}x`,
  r.maskedCells === null ? '-' : fmt(r.maskedCells),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(
  `masking benchmark: ${fmt(ROWS)} rows x ${COLUMNS.length} columns (${COLUMNS.join(', ')}), median of ${RUNS} runs, ` +
    `Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average ${loadAtStart.toFixed(2)} at start`,
);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));
for (const r of results) if (r.detected) console.log(`  ${r.path}: detected ${JSON.stringify(r.detected)}`);

const out = fileURLToPath(new URL('./results/masking.json', import.meta.url));
mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      benchmark: 'masking',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? null,
      cores: cpus().length,
      loadAverageAtStart: loadAtStart,
      columns: COLUMNS,
      runsPerPath: RUNS,
      statistic: 'median',
      results,
    },
    null,
    2,
  ) + '\n',
);
console.log(`written ${out}`);
