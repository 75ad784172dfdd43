/** SQL analysis for both dialects behind one dialect-neutral result. */
import { loadModule } from 'libpg-query';
import type { Analysis, ColumnRef, Dialect, TableRef } from '@airlock/contracts';
import { staticCatalog, type Catalog } from './catalog.js';
import { inspectPostgres } from './postgres.js';
import { analyzeSnowflake, inspectSnowflake } from './snowflake.js';
import { snowflakeCommands } from './commands.js';

export { staticCatalog, type Catalog } from './catalog.js';
export { SqlParseError } from './errors.js';
export { analyzePostgres, inspectPostgres, statementKind, type PostgresAnalysisResult } from './postgres.js';
export { snowflakeCommands, lexicalFunctions } from './commands.js';

/**
 * Loads the PostgreSQL parser (WebAssembly); call once at start-up before analysing. It also analyses one statement,
 * because the first parse after loading compiles the WebAssembly code (about 100 ms) and no agent's statement should
 * pay for that.
 */
export async function initParsers(): Promise<void> {
  await loadModule();
  inspectPostgres(WARM_UP, staticCatalog({ 'public.t': ['a', 'b'] }));
}

const WARM_UP = 'WITH w AS (SELECT a, b FROM t WHERE a > 1) SELECT w.a, count(*) OVER (PARTITION BY b) FROM w JOIN t USING (a) ORDER BY 1';

/** Analyses one SQL text in the given dialect. Throws SqlParseError when it does not parse. */
export function analyze(sql: string, dialect: Dialect, catalog: Catalog): Analysis {
  return dialect === 'postgres' ? inspectPostgres(sql, catalog).analysis : analyzeSnowflake(sql, catalog);
}

/** The analysis plus what policy needs beyond the contract: value-preserving columns, commands, written sources. */
export interface AnalysisResult {
  analysis: Analysis;
  /**
   * Per output column: true when the value is a source column passed through unchanged (plain reference or alias),
   * so a format-preserving mask (email, partial) or a hash is safe.
   */
  direct: boolean[];
  /** statement-level commands, lower case (`set role`, `copy to program`, `use role`, `alter session`, …) */
  commands: string[];
  /** source columns whose values are written into a table (PostgreSQL only; empty for Snowflake) */
  writtenSources: ColumnRef[];
  /** parse-tree node types of the statements and what they wrap (PostgreSQL only), for the statement allow-list */
  statements?: string[];
  /** operators as written (PostgreSQL only), for the operator allow-list */
  operators?: string[];
  /** relations read that the catalogue does not know (PostgreSQL only; pg_catalog and information_schema excluded) */
  unknownRelations?: TableRef[];
  /** parse-tree size (PostgreSQL only), for the analysis budget */
  nodes?: number;
  /** for EXPLAIN (PostgreSQL only): the explained statement's output columns, whose statistics the plan shows */
  explained?: Analysis['outputColumns'];
}

/** Like analyze(), with the facts the masking plan builder and the guardrails use in-process. */
export function inspect(sql: string, dialect: Dialect, catalog: Catalog): AnalysisResult {
  if (dialect === 'postgres') return inspectPostgres(sql, catalog);
  const { analysis, direct } = inspectSnowflake(sql, catalog);
  return { analysis, direct, commands: snowflakeCommands(sql), writtenSources: [] };
}
