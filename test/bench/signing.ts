/**
 * What signed decisions cost per statement, in process: the policy decision for a statement seen before (cached),
 * without and with its signature; the proxy's check of the signature (keys fetched once over the real NATS, then
 * cached); and the credential service's check, which runs once per lease. Run: node --import tsx test/bench/signing.ts
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { policyV1 } from '@airlock/contracts';
import { AnalysisCache, evaluate, initParsers, signDecision, staticCatalog } from '@airlock/policy';
import { Bus, Signer, TrustedKeys, createLogger, digest, tokenKinds } from '@airlock/runtime';

const RUNS = 5000;
const logger = createLogger({ service: 'bench', level: 'warn' });
const signer = await Signer.load({ service: 'policy', env: { AIRLOCK_STATE_DIR: mkdtempSync(join(tmpdir(), 'airlock-bench-')) }, logger }, tokenKinds.decision);
const root = `bench${process.pid}`;
const bus = await Bus.connect({ url: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', root, service: 'bench', logger });
bus.serve(policyV1.keys, async () => signer.jwks());
const keys = new TrustedKeys(bus, policyV1.keys, tokenKinds.decision);

await initParsers();
const catalog = staticCatalog({
  'public.customers': ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'],
  'public.orders': ['id', 'customer_id', 'total', 'created_at'],
});
const config = parseConfig(readFileSync(demoConfigPath, 'utf8'));
const principal = { subject: 'bench', issuer: 'bench', groups: ['analysts'] };
const cache = new AnalysisCache();
const sql = 'SELECT c.name, c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.id = $1';
const req = (i: number): policyV1.DecideRequest => ({ requestId: `r${i}`, sessionId: 's', principal, connection: 'demo', sql, frontend: 'pgwire', paramsDigest: digest([String(i)]) });
evaluate({ config, principal, connection: 'demo', sql, catalog, requestId: 'warm', cache });

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
async function measure(fn: (i: number) => unknown): Promise<{ median: string; p99: string }> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  return { median: us(quantile(times, 0.5)), p99: us(quantile(times, 0.99)) };
}

const cached = await measure((i) => evaluate({ config, principal, connection: 'demo', sql, catalog, requestId: `r${i}`, cache }));
const signed = await measure((i) => signDecision(signer, req(i), evaluate({ config, principal, connection: 'demo', sql, catalog, requestId: `r${i}`, cache })));
const tokens = await Promise.all(Array.from({ length: RUNS }, (_, i) => signDecision(signer, req(i), evaluate({ config, principal, connection: 'demo', sql, catalog, requestId: `r${i}`, cache }))));
const decisions = tokens.map((d) => d.token!);
await keys.verify(decisions[0]!);
const verified = await measure((i) => keys.verify(decisions[i]!));
const planDigest = await measure((i) => digest(tokens[i]!.masking));
console.table([
  { step: 'policy decision, cached (no signature)', ...cached },
  { step: 'policy decision, cached, signed (Ed25519 JWS)', ...signed },
  { step: 'signature and claims check (proxy per statement; credential per lease)', ...verified },
  { step: 'masking plan digest (proxy per statement)', ...planDigest },
]);
await bus.close();
