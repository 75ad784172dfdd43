import type { AirlockConfig } from '@airlock/config';
import { policyV1 } from '@airlock/contracts';
import { AirlockError, Counter, Histogram, Registry, latencyBuckets, type Bus, type EventPublisher, type Signer } from '@airlock/runtime';
import type { AnalysisCache } from '../analysis-cache.js';
import type { CatalogCache } from '../catalog-cache.js';
import { analysisBudget, evaluate } from '../evaluate.js';
import { signDecision } from '../signing.js';

export interface DecideParts {
  config: AirlockConfig;
  catalogs: CatalogCache;
  cache: AnalysisCache;
  events: EventPublisher;
  signer: Signer;
  metrics?: Registry | undefined;
  /** what decisions are made with now, by connection: signed into a reusable decision */
  epoch(connection: string): string;
}

/** How long a proxy may reuse an allowed decision when `policy.decisionCacheSeconds` is not set. */
export const defaultDecisionCacheSeconds = 5;

/** `policy.v1.decide`: analyses and decides one statement, records the decision as an event, and answers it signed. */
export function serveDecide(bus: Bus, parts: DecideParts): void {
  const { catalogs, cache, events } = parts;
  const registers = [parts.metrics ?? new Registry()];
  const decisions = new Counter({
    name: 'airlock_policy_decisions_total',
    help: 'Statements decided, by connection and outcome (allow, deny, approval-required)',
    labelNames: ['connection', 'outcome'],
    registers,
  });
  const decideSeconds = new Histogram({
    name: 'airlock_policy_decision_duration_seconds',
    help: 'Time to analyse and decide one statement, by outcome',
    labelNames: ['outcome'],
    buckets: latencyBuckets,
    registers,
  });
  const { tracing } = bus;
  const reuseSeconds = parts.config.policy?.decisionCacheSeconds ?? defaultDecisionCacheSeconds;
  bus.serve(policyV1.decide, async (req, ctx) => {
    const catalog = await catalogs.get(req.connection);
    const started = performance.now();
    const type = parts.config.connections[req.connection]?.type;
    const budget = analysisBudget(parts.config);
    if (type && Buffer.byteLength(req.sql, 'utf8') <= budget.maxStatementBytes) {
      // the analysis lands in the cache, so evaluate() below reuses it: the parse span times the parse alone
      tracing.runSync('parse', ctx, {}, (span) => {
        try {
          const { analysis } = cache.inspect(req.sql, type === 'postgres' ? 'postgres' : 'snowflake', catalog);
          span.set({ 'airlock.statement.kind': analysis.kind, 'airlock.statement.count': analysis.statementCount, 'airlock.tables.count': analysis.tables.length });
        } catch {
          // evaluate() analyses it again and refuses it with the reason
          span.end(new AirlockError('policy.parse_error', 'unparsable'));
        }
      });
    }
    // a relation the catalogue does not know may be one created moments ago: ask once more before refusing it
    let current = catalog;
    if (type === 'postgres') {
      const first = evaluate({ config: parts.config, principal: req.principal, connection: req.connection, sql: req.sql, catalog, requestId: req.requestId, cache });
      if (first.code === 'policy.unknown_relation') current = await catalogs.reloaded(req.connection);
    }
    const decision = tracing.runSync('decide', ctx, { attributes: { 'airlock.connection': req.connection } }, (span) => {
      const d = evaluate({ config: parts.config, principal: req.principal, connection: req.connection, sql: req.sql, catalog: current, requestId: req.requestId, cache });
      span.set({
        'airlock.decision': d.outcome,
        ...(d.rule ? { 'airlock.rule': d.rule } : {}),
        ...(d.code ? { 'airlock.decision.code': d.code } : {}),
        ...(d.analysis ? { 'airlock.statement.kind': d.analysis.kind } : {}),
        'airlock.masked_columns.count': d.masking.columns.filter((c) => c.action !== null).length,
      });
      return d;
    });
    // a connection nobody configured is one label, not one per name a client tries
    decisions.inc({ connection: type ? req.connection : 'unknown', outcome: decision.outcome });
    decideSeconds.observe({ outcome: decision.outcome }, (performance.now() - started) / 1000);
    // with audit.metadataReads: summary, an allowed metadata read is counted on its session instead (the proxy)
    const summarised = parts.config.audit?.metadataReads === 'summary' && decision.outcome === 'allow' && decision.rule === 'builtin:metadata';
    if (!summarised) events.emit(
      policyV1.decided,
      { requestId: req.requestId, sessionId: req.sessionId, principal: req.principal, connection: req.connection, sql: req.sql, decision },
      ctx,
    );
    const reuse = reuseSeconds > 0 ? { s: reuseSeconds, ep: parts.epoch(req.connection) } : undefined;
    return tracing.run('sign', ctx, {}, () => signDecision(parts.signer, req, decision, reuse));
  });
}
