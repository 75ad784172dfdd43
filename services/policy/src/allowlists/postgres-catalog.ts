/**
 * The PostgreSQL metadata and session surfaces, as data: which `pg_catalog` and `information_schema` relations and
 * functions a principal who may read anything on a connection may also read (answered by the upstream as the lease's
 * own role sees them), and which session statements a client may send. Anything not listed is closed: PostgreSQL adds
 * catalogs, and a new one may carry values (statistics, statement text) or credentials.
 */
import type { Analysis, TableRef } from '@airlock/contracts';

/**
 * `pg_catalog` relations that describe objects and never hold a column's values, another session's statement text or
 * a credential: what psql's `\d` family, JDBC's `DatabaseMetaData`, SQLAlchemy's inspector, ORMs and BI tools read.
 */
export const POSTGRES_CATALOG_RELATIONS: ReadonlySet<string> = new Set(
  `pg_aggregate pg_am pg_amop pg_amproc pg_attrdef pg_attribute pg_auth_members pg_available_extension_versions
   pg_available_extensions pg_cast pg_class pg_collation pg_constraint pg_conversion pg_database pg_default_acl
   pg_depend pg_description pg_enum pg_event_trigger pg_extension pg_foreign_data_wrapper pg_foreign_table pg_index
   pg_indexes pg_inherits pg_language pg_matviews pg_namespace pg_opclass pg_operator pg_opfamily pg_partitioned_table
   pg_policies pg_policy pg_proc pg_publication pg_publication_namespace pg_publication_rel pg_publication_tables
   pg_range pg_rewrite pg_roles pg_rules pg_sequence pg_sequences pg_settings pg_shdepend pg_shdescription pg_tables
   pg_tablespace pg_timezone_abbrevs pg_timezone_names pg_transform pg_trigger pg_ts_config pg_ts_config_map
   pg_ts_dict pg_ts_parser pg_ts_template pg_type pg_user pg_views pg_group pg_init_privs pg_seclabel pg_seclabels
   pg_shseclabel pg_cursors pg_prepared_statements pg_statistic_ext`
    .split(/\s+/)
    .filter((n) => n !== ''),
);

/**
 * `information_schema` views: each shows only what the current role has a privilege on. Those that show the options
 * of user mappings and foreign servers (where passwords live) are left out.
 */
export const INFORMATION_SCHEMA_RELATIONS: ReadonlySet<string> = new Set(
  `administrable_role_authorizations applicable_roles attributes character_sets check_constraint_routine_usage
   check_constraints collation_character_set_applicability collations column_column_usage column_domain_usage
   column_privileges column_udt_usage columns constraint_column_usage constraint_table_usage data_type_privileges
   domain_constraints domain_udt_usage domains element_types enabled_roles foreign_data_wrappers foreign_servers
   foreign_tables information_schema_catalog_name key_column_usage parameters referential_constraints
   role_column_grants role_routine_grants role_table_grants role_udt_grants role_usage_grants routine_column_usage
   routine_privileges routine_routine_usage routine_sequence_usage routine_table_usage routines schemata sequences
   sql_features sql_implementation_info sql_parts sql_sizing table_constraints table_privileges tables transforms
   triggered_update_columns triggers udt_privileges usage_privileges user_defined_types view_column_usage
   view_routine_usage view_table_usage views`
    .split(/\s+/)
    .filter((n) => n !== ''),
);

/** The helper functions `information_schema`'s own views and JDBC's `getPrimaryKeys` call; they compute from their arguments. */
export const INFORMATION_SCHEMA_FUNCTIONS: ReadonlySet<string> = new Set([
  '_pg_expandarray',
  '_pg_keysequal',
  '_pg_truetypid',
  '_pg_truetypmod',
  '_pg_char_max_length',
  '_pg_char_octet_length',
  '_pg_numeric_precision',
  '_pg_numeric_precision_radix',
  '_pg_numeric_scale',
  '_pg_datetime_precision',
  '_pg_interval_type',
  '_pg_index_position',
]);

/** Schemas whose relations are metadata: the catalogue of data tables never lists them. */
export const SYSTEM_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema']);

export function isSystemRelation(t: TableRef): boolean {
  return SYSTEM_SCHEMAS.has(t.schema) || t.schema.startsWith('pg_toast');
}

/** Whether a system relation is on the metadata allow-list (or `guardrails.allowCatalogRelations`). */
export function catalogRelationAllowed(t: TableRef, allowed: readonly string[] = []): boolean {
  const name = t.table.toLowerCase();
  const extra = allowed.some((a) => a.toLowerCase() === name || a.toLowerCase() === `${t.schema}.${name}`);
  if (t.schema === 'pg_catalog') return POSTGRES_CATALOG_RELATIONS.has(name) || extra;
  if (t.schema === 'information_schema') return INFORMATION_SCHEMA_RELATIONS.has(name) || extra;
  return false;
}

/** Statement kinds of the session surface: they read or change only this session's own settings. */
const SESSION_KINDS: ReadonlySet<string> = new Set(['set', 'show']);

/** Session statements besides SET/SHOW: they end or reset what this session holds (the proxy tracks them too). */
const SESSION_COMMANDS: ReadonlySet<string> = new Set(['discard all', 'discard plans', 'discard sequences', 'discard temp']);

export type PostgresSurface = { surface: 'metadata' | 'session'; what: string; role?: undefined } | undefined;

/**
 * Which surface a statement belongs to, once the guardrails have passed it (so every setting it changes is settable
 * and every relation it reads that is a system one is on the allow-list): `session` for SET/RESET/SHOW and
 * DISCARD/DEALLOCATE, `metadata` for a read of system relations only. A statement that also reads a data table is
 * decided by the rules like any other.
 */
export function postgresSurface(analysis: Analysis, commands: readonly string[], statements: readonly string[]): PostgresSurface {
  if (analysis.statementCount !== 1) return undefined;
  if (analysis.kinds.every((k) => SESSION_KINDS.has(k)) && analysis.tables.length === 0) {
    return { surface: 'session', what: analysis.kind === 'show' ? 'SHOW' : 'SET/RESET' };
  }
  if (statements.length === 1 && statements[0] === 'DiscardStmt') {
    const command = commands[0]?.toLowerCase();
    if (command !== undefined && SESSION_COMMANDS.has(command)) return { surface: 'session', what: 'DISCARD' };
  }
  // EXECUTE, FETCH, MOVE, CLOSE, DEALLOCATE use what PREPARE or DECLARE made in this session: the proxy runs them
  // with that decision's role and masking plan (their arguments are constants: the evaluation refuses anything else)
  const named = analysis.named;
  if (named !== undefined && named.verb !== 'prepare' && named.verb !== 'declare' && analysis.tables.length === 0) {
    return { surface: 'session', what: named.verb.toUpperCase() };
  }
  if (analysis.kinds.every((k) => k === 'select') && analysis.tables.length > 0 && analysis.tables.every((t) => isSystemRelation(t))) {
    return { surface: 'metadata', what: `reading ${analysis.tables.map((t) => `${t.schema}.${t.table}`).join(', ')}` };
  }
  return undefined;
}
