import { defaultStatementLimits, globMatch, statementLimits, type AirlockConfig, type Connection, type MaskingRuleConfig, type Policy } from '@airlock/config';
import type { Analysis, DetectorName, ErrorCode, MaskAction, Principal, policyV1 } from '@airlock/contracts';
import { isErrorCode } from '@airlock/contracts';
import { inspect, SqlParseError, type Catalog } from './analysis/index.js';
import { buildMaskingPlan, type MaskingRule } from './masking-plan.js';
import { allowListVerdicts, checkGuardrails, type DenyEntry } from './guardrails.js';
import { snowflakeSurface } from './allowlists/snowflake-metadata.js';
import { isSystemRelation, postgresSurface } from './allowlists/postgres-catalog.js';
import { statementKind } from './analysis/postgres.js';
import { CACHE_MAX_CHARS, type AnalysisCache } from './analysis-cache.js';

export const defaultLimits = defaultStatementLimits;
const allDetectors: DetectorName[] = ['email', 'card', 'ssn', 'iban', 'phone', 'ip'];

/** The masking rules of the config in the shape the plan builder takes: one rule per column pattern. */
export function maskingRules(config: AirlockConfig): MaskingRule[] {
  return (config.masking?.rules ?? []).flatMap((r: MaskingRuleConfig) =>
    r.columns.map((column) => ({
      name: r.name,
      connections: r.connections ?? ['*'],
      schema: r.schema ?? '*',
      table: r.table,
      column,
      action: toAction(r.action),
      exemptGroups: r.exemptGroups ?? [],
    })),
  );
}

function toAction(a: MaskingRuleConfig['action']): MaskAction {
  if (typeof a === 'object') return { kind: 'partial', keep: a.partial };
  return { kind: a };
}

function enabledDetectors(connection: Connection): DetectorName[] {
  const d = connection.detectors ?? {};
  return allDetectors.filter((name) => d[name] !== false);
}

const inGroups = (rule: Policy, principal: Principal) => rule.groups.some((g) => g === '*' || principal.groups.some((mine) => globMatch(g, mine)));

/** A rule speaks to this principal on this connection: one of its groups is theirs and it names the connection (or none). */
function appliesTo(rule: Policy, principal: Principal, connection: string): boolean {
  return inGroups(rule, principal) && (!rule.connections || rule.connections.some((c) => globMatch(c, connection)));
}

function tableMatches(patterns: readonly string[], t: { schema: string; table: string }): boolean {
  return patterns.some((p) => {
    const dot = p.lastIndexOf('.');
    return dot < 0 ? globMatch(p, t.table) : globMatch(p.slice(0, dot), t.schema) && globMatch(p.slice(dot + 1), t.table);
  });
}

/**
 * The first rule, in config order, that applies to this principal, connection, statement kinds and tables. System
 * relations (`pg_catalog`, `information_schema`) that the guardrails let through are metadata, not tables a rule names.
 * `EXPLAIN` is decided as the statement it explains: a rule that lets the principal run it lets them explain it.
 */
export function findRule(config: AirlockConfig, principal: Principal, connection: string, analysis: Analysis, explained?: string): Policy | undefined {
  const tables = analysis.dialect === 'postgres' ? analysis.tables.filter((t) => !isSystemRelation(t)) : analysis.tables;
  return config.policies.find(
    (rule) =>
      appliesTo(rule, principal, connection) &&
      analysis.kinds.every((k) => rule.kinds.includes(k) || (k === 'explain' && explained !== undefined && rule.kinds.includes(explained as Policy['kinds'][number]))) &&
      (!rule.tables || tables.every((t) => tableMatches(rule.tables!, t))),
  );
}

/** The kind of the statement an `EXPLAIN` (without ANALYZE, which the analysis already reports as its statement) wraps. */
function explainedKind(analysis: Analysis, statements: readonly string[] | undefined): string | undefined {
  if (analysis.dialect !== 'postgres' || analysis.kind !== 'explain' || statements?.[0] !== 'ExplainStmt') return undefined;
  const inner = statements[1];
  return inner === undefined ? undefined : statementKind({ [inner]: {} });
}

/**
 * The first rule, in config order, that lets this principal read without approval on the connection: the metadata and
 * session surfaces are open to it, with its role.
 */
export function findReader(config: AirlockConfig, principal: Principal, connection: string): Policy | undefined {
  const conn = config.connections[connection];
  return config.policies.find(
    (rule) =>
      appliesTo(rule, principal, connection) &&
      rule.kinds.includes('select') &&
      rule.decision === 'allow' &&
      rule.role !== undefined &&
      conn?.roles[rule.role] !== undefined,
  );
}

/**
 * What the principal may do on each connection (or the one named): the rules, in config order, that apply to them there
 * and let statements run, at once or after approval. The same matching as `findRule`, without a statement: a statement
 * is decided by the first of these whose kinds and tables cover it, unless a deny rule before it does.
 */
export function explainAccess(config: AirlockConfig, principal: Principal, connection?: string): policyV1.ExplainAccessResponse {
  const names = connection === undefined ? Object.keys(config.connections) : config.connections[connection] ? [connection] : [];
  return {
    connections: names.map((name) => ({
      name,
      type: config.connections[name]!.type,
      rules: config.policies
        .filter((rule) => rule.decision !== 'deny' && appliesTo(rule, principal, name))
        .map((rule) => ({
          rule: rule.name,
          decision: rule.decision === 'approval' ? ('approval' as const) : ('allow' as const),
          kinds: [...rule.kinds],
          tables: rule.tables ? [...rule.tables] : ['*'],
          approvers: rule.decision === 'approval' ? [...(rule.approvers ?? [])] : [],
        })),
    })),
  };
}

/** Analysis limits per statement; `guardrails.maxStatementBytes`, `maxParseNodes` and `maxAnalysisMs` override them. */
export const defaultBudget = { maxStatementBytes: 256 * 1024, maxParseNodes: 200_000, maxAnalysisMs: 2_000 } as const;

export function analysisBudget(config: AirlockConfig): { maxStatementBytes: number; maxParseNodes: number; maxAnalysisMs: number } {
  const g = config.guardrails;
  return {
    maxStatementBytes: g?.maxStatementBytes ?? defaultBudget.maxStatementBytes,
    maxParseNodes: g?.maxParseNodes ?? defaultBudget.maxParseNodes,
    maxAnalysisMs: g?.maxAnalysisMs ?? defaultBudget.maxAnalysisMs,
  };
}

export interface EvaluateInput {
  config: AirlockConfig;
  principal: Principal;
  connection: string;
  sql: string;
  catalog: Catalog;
  requestId: string;
  /** recent analyses; the statement is analysed afresh when absent */
  cache?: AnalysisCache;
  /**
   * The catalogue is known to be incomplete (an offline `airlock policy check` without the credential service):
   * relations it does not know are then analysed as unknown tables instead of being refused. Never set in the service.
   */
  catalogIncomplete?: boolean;
}

/**
 * Decides one statement: guardrails, then the first matching rule, then the masking plan and the inference guard.
 * Fails closed: SQL that cannot be analysed is denied.
 */
export function evaluate(input: EvaluateInput): policyV1.Decision {
  if (!input.cache) return decide(input);
  // a decision depends on the principal's groups, the connection, the text and the catalogue (the cache is per
  // catalogue version), never on who else asked: the same question gets the same answer, with its own request id
  if (input.sql.length > CACHE_MAX_CHARS) return decide({ ...input, cache: undefined });
  const key = `${[...input.principal.groups].sort().join(',')}\u0000${input.connection}\u0000${input.sql}`;
  const hit = input.cache.decision(input.catalog, key);
  if (hit) return { ...hit, requestId: input.requestId };
  const decision = decide(input);
  // a decision that depends on the clock (the analysis time budget) is not one to repeat
  if (decision.rule !== 'guardrail:budget:time') input.cache.remember(input.catalog, key, decision);
  return decision;
}

function decide(input: EvaluateInput): policyV1.Decision {
  return heldOnTheSession(decideStatement(input));
}

/**
 * `PREPARE` and `DECLARE … CURSOR` are decided as the statement they wrap, and the proxy keeps the decision for the
 * `EXECUTE`s and `FETCH`es that follow on the same upstream session. That needs the statement to be allowed outright
 * (an approval covers one run of one statement with its parameters) and a credential that outlives the statement.
 */
function heldOnTheSession(decision: policyV1.Decision): policyV1.Decision {
  const named = decision.analysis?.named;
  if (named === undefined || (named.verb !== 'prepare' && named.verb !== 'declare')) return decision;
  const what = named.verb === 'prepare' ? 'PREPARE' : 'DECLARE … CURSOR';
  const refuse = (reason: string): policyV1.Decision => ({
    ...decision,
    outcome: 'deny',
    code: 'policy.forbidden_command',
    reason,
    scope: null,
    approval: null,
    rule: `guardrail:postgres:named:${named.verb}`,
  });
  if (decision.outcome === 'approval-required') {
    return refuse(`${what} of a statement that needs approval is not supported through Airlock: an approval covers one run of the statement. Send the statement itself and wait for its approval.`);
  }
  if (decision.outcome === 'allow' && decision.scope?.leaseMode === 'statement') {
    return refuse(`${what} needs a credential that outlives the statement, and this connection mints one per statement (leaseMode: statement). Send the statement itself.`);
  }
  return decision;
}

function decideStatement(input: EvaluateInput): policyV1.Decision {
  const { config, principal, requestId } = input;
  const connection = config.connections[input.connection];
  const emptyPlan = { columns: [], maskUnlisted: false, detectors: [] };
  const base = { requestId, scope: null, approval: null, masking: emptyPlan, maskedSources: [], limits: { ...defaultLimits }, analysis: null };
  const deny = (code: ErrorCode, reason: string, rule: string | null, analysis: Analysis | null = null): policyV1.Decision => ({
    ...base,
    outcome: 'deny',
    code,
    reason,
    rule,
    analysis,
  });
  if (!connection) return deny('policy.unknown_connection', `connection "${input.connection}" is not configured`, null);
  const limits = statementLimits(connection);
  const dialect = connection.type === 'postgres' ? 'postgres' : 'snowflake';

  const budget = analysisBudget(config);
  const bytes = Buffer.byteLength(input.sql, 'utf8');
  if (bytes > budget.maxStatementBytes) {
    return deny(
      'policy.statement_too_large',
      `the statement is ${bytes} bytes, more than the ${budget.maxStatementBytes} Airlock analyses; split it, or ask an operator to raise guardrails.maxStatementBytes`,
      'guardrail:budget:bytes',
    );
  }
  let result: ReturnType<typeof inspect>;
  const started = performance.now();
  try {
    result = input.cache ? input.cache.inspect(input.sql, dialect, input.catalog) : inspect(input.sql, dialect, input.catalog);
  } catch (err) {
    if (err instanceof SqlParseError) {
      return deny('policy.parse_error', `Airlock could not parse this statement (${err.message}), so it cannot check it; fix the syntax`, null);
    }
    return deny('policy.parse_error', 'Airlock could not analyse this statement, so it refuses it; simplify it or ask an operator', null);
  }
  const { analysis } = result;
  if (analysis.statementCount === 0) return deny('policy.parse_error', 'the request holds no statement', null, analysis);
  if ((result.nodes ?? 0) > budget.maxParseNodes) {
    return deny(
      'policy.statement_too_large',
      `the statement's parse tree has ${result.nodes} nodes, more than the ${budget.maxParseNodes} Airlock analyses; simplify it, or ask an operator to raise guardrails.maxParseNodes`,
      'guardrail:budget:nodes',
    );
  }
  const elapsed = performance.now() - started;
  if (elapsed > budget.maxAnalysisMs) {
    return deny(
      'policy.statement_too_large',
      `analysing the statement took longer than the ${budget.maxAnalysisMs} ms Airlock allows; simplify it, or ask an operator to raise guardrails.maxAnalysisMs`,
      'guardrail:budget:time',
    );
  }

  const rules = maskingRules(config);
  const detectors = enabledDetectors(connection);
  const { plan, maskedSources } = buildMaskingPlan({
    analysis,
    connection: input.connection,
    groups: principal.groups,
    rules,
    detectors,
    direct: result.direct,
    writtenSources: result.writtenSources,
  });
  // columns that would be masked but for the principal's exemption come back in clear: no detectors on them either
  const unexempt = buildMaskingPlan({
    analysis,
    connection: input.connection,
    groups: [],
    rules,
    detectors,
    direct: result.direct,
  }).plan;
  const columns = plan.columns.map((c) => {
    const wouldMask = unexempt.columns.find((u) => u.index === c.index)?.action;
    return c.action === null && wouldMask ? { ...c, detect: false } : c;
  });
  const masking = { ...plan, columns };

  const extraDenied: DenyEntry[] = (config.guardrails?.forbiddenFunctions ?? []).map((pattern) => ({
    dialect,
    kind: 'function',
    pattern,
    reason: 'is on this deployment’s deny list',
  }));
  const allowLists = {
    allowFunctions: config.guardrails?.allowFunctions ?? [],
    forbiddenFunctions: config.guardrails?.forbiddenFunctions ?? [],
    allowSettings: config.guardrails?.allowSettings ?? [],
  };
  const facts = { statements: result.statements, operators: result.operators };
  const violation = checkGuardrails({
    analysis,
    commands: result.commands,
    maskedSources,
    writtenSources: result.writtenSources,
    allowMultipleStatements: config.guardrails?.allowMultipleStatements ?? false,
    extraDenied,
    facts,
    allowLists,
    unknownRelations: input.catalogIncomplete === true ? [] : result.unknownRelations,
    allowCatalogRelations: config.guardrails?.allowCatalogRelations ?? [],
  });
  const allowList = allowListVerdicts(analysis, result.commands, facts, allowLists);
  const decided = { ...base, masking, maskedSources, limits, analysis, allowList };
  if (violation) {
    const code: ErrorCode = isErrorCode(violation.code) ? violation.code : 'policy.denied';
    if (code === 'policy.inference_on_masked_column' && config.masking?.inference === 'approval') {
      const rule = findRule(config, principal, input.connection, analysis);
      if (rule && rule.decision !== 'deny' && rule.role && connection.roles[rule.role]) {
        return {
          ...decided,
          outcome: 'approval-required',
          reason: violation.message,
          rule: violation.rule,
          scope: scopeOf(connection, rule),
          approval: { approverGroups: config.masking.inferenceApprovers ?? rule.approvers ?? [], quorum: rule.quorum ?? 1 },
        };
      }
    }
    return { ...decided, outcome: 'deny', code, reason: violation.message, rule: violation.rule };
  }

  const named = analysis.named;
  if (named !== undefined && named.verb !== 'prepare' && named.verb !== 'declare' && (analysis.tables.length > 0 || analysis.functions.length > 0)) {
    return {
      ...decided,
      outcome: 'deny',
      code: 'policy.forbidden_command',
      reason: `${named.verb.toUpperCase()} takes only constants and parameters as arguments through Airlock: a value computed from a table or a function would reach the prepared statement unchecked. Compute the value in its own statement, or send the statement itself.`,
      rule: 'guardrail:postgres:named:arguments',
    };
  }

  const surface =
    dialect === 'snowflake'
      ? snowflakeSurface(
          input.sql,
          analysis,
          { connection: input.connection, database: 'database' in connection ? connection.database : undefined, schema: 'schema' in connection ? connection.schema : undefined },
          allowLists.allowSettings,
        )
      : postgresSurface(analysis, result.commands, result.statements ?? []);
  if (surface?.surface === 'closed') {
    const opens = surface.configKey === undefined ? 'it stays closed whatever the policy rules say' : `an operator can open it with ${surface.configKey} in the config`;
    return {
      ...decided,
      outcome: 'deny',
      code: 'policy.forbidden_command',
      reason: `${surface.what} is not allowed through Airlock: it ${surface.reason}; ${opens}.`,
      rule: `guardrail:snowflake:surface:${surface.what.toLowerCase().replace(/\s+/g, '_')}`,
    };
  }
  if (surface !== undefined) {
    // the metadata and session surfaces: open to whoever may read something on this connection, run with the role
    // of the rule that lets them read, so the upstream shows exactly what that role sees
    const reader = findReader(config, principal, input.connection);
    if (!reader) {
      return {
        ...decided,
        outcome: 'deny',
        code: 'policy.no_rule',
        reason: `${surface.what} is open to those who may read on connection "${input.connection}", and no policy lets your groups (${principal.groups.join(', ') || 'none'}) read there; ask an operator for access`,
        rule: null,
      };
    }
    const scope = scopeOf(connection, reader);
    if (surface.surface === 'session' && surface.role !== undefined && surface.role !== scope.role) {
      return {
        ...decided,
        outcome: 'deny',
        code: 'policy.forbidden_command',
        reason:
          `USE ROLE ${surface.role} is not allowed through Airlock: your statements run with the role ${scope.role}, which the policy rule "${reader.name}" scopes them to; ` +
          'only that role may be named. An operator can change the role with policies[].role in the config.',
        rule: 'guardrail:snowflake:surface:use_role',
      };
    }
    // what these return describes objects and settings the lease's role sees, never a column's values: nothing to
    // mask by lineage (the content detectors still run)
    const surfaceMasking = dialect === 'postgres' ? { columns: [], maskUnlisted: false, detectors: masking.detectors } : masking;
    return { ...decided, masking: surfaceMasking, outcome: 'allow', reason: `${surface.surface} surface: ${surface.what}`, rule: `builtin:${surface.surface}`, scope };
  }

  if (analysis.kinds.every((k) => k === 'transaction')) {
    // transaction control needs no credential of its own: it joins the statements around it
    return { ...decided, outcome: 'allow', reason: 'transaction control', rule: 'builtin:transaction-control' };
  }

  const rule = findRule(config, principal, input.connection, analysis, explainedKind(analysis, result.statements));
  if (!rule) {
    const tables = analysis.tables.map((t) => `${t.schema}.${t.table}`).join(', ') || 'no table';
    return {
      ...decided,
      outcome: 'deny',
      code: 'policy.no_rule',
      reason: `no policy allows ${analysis.kinds.join('+').toUpperCase()} on ${tables} for your groups (${principal.groups.join(', ') || 'none'}); ask an operator for access`,
      rule: null,
    };
  }
  if (rule.decision === 'deny') {
    return { ...decided, outcome: 'deny', code: 'policy.denied', reason: rule.reason ?? rule.description ?? 'denied by policy', rule: rule.name };
  }
  // the plan's estimates (rows, width) come from the statistics of what the explained statement returns: the average
  // width of a masked column is what pg_stats would show (its selectivity in WHERE is refused by the inference guard)
  const explainedMasked =
    dialect === 'postgres' && analysis.kind === 'explain' && result.explained !== undefined
      ? buildMaskingPlan({ analysis: { ...analysis, outputColumns: result.explained }, connection: input.connection, groups: principal.groups, rules, detectors, direct: [] }).maskedSources
      : [];
  if (explainedMasked.length > 0) {
    const first = explainedMasked[0]!;
    return {
      ...decided,
      outcome: 'deny',
      code: 'policy.inference_on_masked_column',
      reason:
        `EXPLAIN of a statement that reads ${first.table}.${first.column}, which is masked for you, is not allowed: the plan's estimates (rows, widths) ` +
        'come from the statistics of its values. Run the statement itself, or explain one that reads no masked column.',
      rule: 'guardrail:explain',
    };
  }

  const scope = scopeOf(connection, rule);
  if (rule.decision === 'approval') {
    return {
      ...decided,
      outcome: 'approval-required',
      reason: rule.reason ?? `statements matching rule "${rule.name}" need approval`,
      rule: rule.name,
      scope,
      approval: { approverGroups: rule.approvers ?? [], quorum: rule.quorum ?? 1 },
    };
  }
  return { ...decided, outcome: 'allow', reason: rule.reason ?? rule.description ?? 'allowed by policy', rule: rule.name, scope };
}

function scopeOf(connection: Connection, rule: Policy): policyV1.Scope {
  return {
    role: connection.roles[rule.role!]!,
    ttlSeconds: connection.leases?.ttlSeconds ?? 3600,
    leaseMode: rule.leaseMode ?? connection.leases?.mode ?? 'session',
  };
}
