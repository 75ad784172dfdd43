export { startPolicy, type PolicyDeps, type PolicyService } from './service.js';
export { evaluate, findRule, maskingRules, defaultLimits, type EvaluateInput } from './evaluate.js';
export { CatalogCache } from './catalog-cache.js';
export { analyze, inspect, initParsers, staticCatalog, SqlParseError, type Catalog } from './analysis/index.js';
export { buildMaskingPlan, type MaskingRule } from './masking-plan.js';
export { checkGuardrails } from './guardrails.js';
export { AnalysisCache } from './analysis-cache.js';
export { signDecision, decisionClaims, decisionTtlSeconds } from './signing.js';
export { loadConfig, type PolicyEnv } from './config.js';
