/** SQL analysis for both dialects behind one dialect-neutral result. */
import { loadModule } from 'libpg-query';
import type { Analysis, ColumnRef, Dialect } from '@airlock/contracts';
import type { Catalog } from './catalog.js';
import { inspectPostgres } from './postgres.js';
import { analyzeSnowflake } from './snowflake.js';
import { snowflakeCommands } from './commands.js';

export { staticCatalog, type Catalog } from './catalog.js';
export { SqlParseError } from './errors.js';
export { analyzePostgres, inspectPostgres, statementKind, type PostgresAnalysisResult } from './postgres.js';
export { snowflakeCommands, lexicalFunctions } from './commands.js';

/** Loads the PostgreSQL parser (WebAssembly); call once at start-up before analysing. */
export async function initParsers(): Promise<void> {
  await loadModule();
}

/** Analyses one SQL text in the given dialect. Throws SqlParseError when it does not parse. */
export function analyze(sql: string, dialect: Dialect, catalog: Catalog): Analysis {
  return dialect === 'postgres' ? inspectPostgres(sql, catalog).analysis : analyzeSnowflake(sql, catalog);
}

/** The analysis plus what policy needs beyond the contract: value-preserving columns, commands, written sources. */
export interface AnalysisResult {
  analysis: Analysis;
  /**
   * Per output column: true when the value is a source column passed through unchanged (plain reference or alias),
   * so a format-preserving mask (email, partial) is safe. Snowflake analysis does not say: all false there.
   */
  direct: boolean[];
  /** statement-level commands, lower case (`set role`, `copy to program`, `use role`, `alter session`, …) */
  commands: string[];
  /** source columns whose values are written into a table (PostgreSQL only; empty for Snowflake) */
  writtenSources: ColumnRef[];
}

/** Like analyze(), with the facts the masking plan builder and the guardrails use in-process. */
export function inspect(sql: string, dialect: Dialect, catalog: Catalog): AnalysisResult {
  if (dialect === 'postgres') return inspectPostgres(sql, catalog);
  const analysis = analyzeSnowflake(sql, catalog);
  return { analysis, direct: analysis.outputColumns.map(() => false), commands: snowflakeCommands(sql), writtenSources: [] };
}
