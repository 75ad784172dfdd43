/**
 * SHOW DATABASES/SCHEMAS/TABLES/VIEWS/COLUMNS and DESCRIBE TABLE/VIEW as Snowflake answers them: the documented output
 * columns, names upper-cased as Snowflake folds them, and only the objects the session's role may use (the PostgreSQL
 * privileges of its backing role; ACCOUNTADMIN sees everything). Data lives in the `public` schema, shown as PUBLIC.
 */
import { sfErrors } from './errors.js';
import { column, encodeDate, type Cell, type RowType } from './result-encoding.js';
import { ACCOUNTADMIN } from './store.js';
import type { CommandHost, ResultSet, SessionState } from './commands.js';

const SHOW = 0x4400;
const DESCRIBE = 0x4500;

/** Where a SHOW looks, from its `IN …` clause (absent parts default to the session's). */
export interface ShowScope {
  database?: string;
  schema?: string;
  table?: string;
}

function reported(pgName: string): string {
  return pgName === pgName.toLowerCase() ? pgName.toUpperCase() : pgName;
}

function text(names: readonly string[], fixed: readonly string[] = [], dates: readonly string[] = ['created_on']): RowType[] {
  return names.map((n) => column(n, dates.includes(n) ? 'timestamp_ltz' : fixed.includes(n) ? 'fixed' : 'text'));
}

async function pgRoleOf(host: CommandHost, session: SessionState): Promise<string | null> {
  if (session.role === ACCOUNTADMIN) return null;
  const role = await host.store.getRole(session.role);
  // a role without a backing role can use nothing
  return role?.pgRole ?? '-';
}

interface Relation {
  name: string;
  kind: string;
  comment: string | null;
}

async function visibleRelations(host: CommandHost, session: SessionState, kinds: readonly string[]): Promise<Relation[]> {
  const pgRole = await pgRoleOf(host, session);
  const rows = await host.adminQuery(
    `SELECT c.relname AS name, c.relkind AS kind, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = ANY($1::text[])
        AND ($2::text IS NULL OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)
             AND has_table_privilege($2, c.oid, 'SELECT,INSERT,UPDATE,DELETE')))
      ORDER BY 1`,
    [kinds, pgRole],
  );
  return rows.map((r) => ({ name: reported(String(r.name)), kind: String(r.kind), comment: (r.comment as string | null) ?? null }));
}

function wrongDatabase(session: SessionState, scope: ShowScope): boolean {
  return (scope.database !== undefined && scope.database !== session.database) || (scope.schema !== undefined && scope.schema !== 'PUBLIC');
}

export async function showDatabases(host: CommandHost, session: SessionState, like: (n: string) => boolean): Promise<ResultSet> {
  const names = ['created_on', 'name', 'is_default', 'is_current', 'origin', 'owner', 'comment', 'options', 'retention_time', 'kind', 'budget', 'owner_role_type'];
  const rowset: Cell[][] = like(session.database)
    ? [[encodeDate(new Date(0)), session.database, 'N', 'Y', '', ACCOUNTADMIN, '', '', '1', 'STANDARD', null, 'ROLE']]
    : [];
  void host;
  return { statementTypeId: SHOW, rowtype: text(names), rowset };
}

export async function showSchemas(host: CommandHost, session: SessionState, like: (n: string) => boolean, scope: ShowScope): Promise<ResultSet> {
  const names = ['created_on', 'name', 'is_default', 'is_current', 'database_name', 'owner', 'comment', 'options', 'retention_time', 'owner_role_type', 'budget'];
  void host;
  if (scope.database !== undefined && scope.database !== session.database) throw sfErrors.doesNotExist(scope.database);
  const rowset: Cell[][] = ['INFORMATION_SCHEMA', 'PUBLIC']
    .filter(like)
    .map((s) => [encodeDate(new Date(0)), s, 'N', s === session.schema ? 'Y' : 'N', session.database, s === 'PUBLIC' ? ACCOUNTADMIN : '', '', '', '1', s === 'PUBLIC' ? 'ROLE' : '', null]);
  return { statementTypeId: SHOW, rowtype: text(names), rowset };
}

export async function showTables(
  host: CommandHost,
  session: SessionState,
  like: (n: string) => boolean,
  scope: ShowScope,
  views: boolean,
): Promise<ResultSet> {
  const tableNames = [
    'created_on', 'name', 'database_name', 'schema_name', 'kind', 'comment', 'cluster_by', 'rows', 'bytes', 'owner', 'retention_time',
    'automatic_clustering', 'change_tracking', 'is_external', 'enable_schema_evolution', 'owner_role_type', 'is_event', 'budget',
    'is_hybrid', 'is_iceberg', 'is_dynamic', 'is_immutable',
  ];
  const viewNames = ['created_on', 'name', 'reserved', 'database_name', 'schema_name', 'owner', 'comment', 'text', 'is_secure', 'is_materialized', 'owner_role_type', 'change_tracking'];
  const rels = wrongDatabase(session, scope) ? [] : (await visibleRelations(host, session, views ? ['v'] : ['r', 'p'])).filter((r) => like(r.name));
  const created = encodeDate(new Date(0));
  if (views) {
    return {
      statementTypeId: SHOW,
      rowtype: text(viewNames),
      // the view's text is withheld, as Snowflake does for a role that does not own the view
      rowset: rels.map((r) => [created, r.name, '', session.database, 'PUBLIC', ACCOUNTADMIN, r.comment ?? '', '', 'false', 'false', 'ROLE', 'OFF']),
    };
  }
  return {
    statementTypeId: SHOW,
    rowtype: text(tableNames, ['rows', 'bytes']),
    // no row counts or sizes: the emulator keeps no table statistics
    rowset: rels.map((r) => [
      created, r.name, session.database, 'PUBLIC', 'TABLE', r.comment ?? '', '', null, null, ACCOUNTADMIN, '1', 'OFF', 'OFF', 'N', 'N', 'ROLE', 'N', null, 'N', 'N', 'N', 'N',
    ]),
  };
}

interface ColumnInfo {
  table: string;
  name: string;
  type: string;
  json: string;
  nullable: boolean;
  dflt: string | null;
  primary: boolean;
  unique: boolean;
  comment: string | null;
}

function snowflakeType(pgType: string, nullable: boolean): { type: string; json: string } {
  const t = pgType.toLowerCase();
  const n = { nullable };
  const num = /^numeric\((\d+),(\d+)\)$/.exec(t);
  if (num) return { type: `NUMBER(${num[1]},${num[2]})`, json: JSON.stringify({ type: 'FIXED', precision: Number(num[1]), scale: Number(num[2]), ...n }) };
  if (['integer', 'bigint', 'smallint', 'numeric'].includes(t)) return { type: 'NUMBER(38,0)', json: JSON.stringify({ type: 'FIXED', precision: 38, scale: 0, ...n }) };
  const vc = /^character varying\((\d+)\)$/.exec(t) ?? /^character\((\d+)\)$/.exec(t);
  const len = vc ? Number(vc[1]) : 16777216;
  if (vc || t === 'text' || t === 'character varying') {
    return { type: `VARCHAR(${len})`, json: JSON.stringify({ type: 'TEXT', length: len, byteLength: Math.min(len * 4, 16777216), ...n, fixed: false }) };
  }
  if (t.startsWith('timestamp') && t.includes('with time zone')) return { type: 'TIMESTAMP_LTZ(9)', json: JSON.stringify({ type: 'TIMESTAMP_LTZ', precision: 0, scale: 9, ...n }) };
  if (t.startsWith('timestamp')) return { type: 'TIMESTAMP_NTZ(9)', json: JSON.stringify({ type: 'TIMESTAMP_NTZ', precision: 0, scale: 9, ...n }) };
  if (t === 'date') return { type: 'DATE', json: JSON.stringify({ type: 'DATE', ...n }) };
  if (t === 'boolean') return { type: 'BOOLEAN', json: JSON.stringify({ type: 'BOOLEAN', ...n }) };
  if (t === 'double precision' || t === 'real') return { type: 'FLOAT', json: JSON.stringify({ type: 'REAL', ...n }) };
  if (t === 'jsonb' || t === 'json') return { type: 'VARIANT', json: JSON.stringify({ type: 'VARIANT', ...n }) };
  if (t === 'bytea') return { type: 'BINARY(8388608)', json: JSON.stringify({ type: 'BINARY', length: 8388608, byteLength: 8388608, ...n, fixed: false }) };
  return { type: t.toUpperCase(), json: JSON.stringify({ type: t.toUpperCase(), ...n }) };
}

async function visibleColumns(host: CommandHost, session: SessionState, table: string | null): Promise<ColumnInfo[]> {
  const pgRole = await pgRoleOf(host, session);
  const rows = await host.adminQuery(
    `SELECT c.relname AS tbl, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS dflt, col_description(c.oid, a.attnum) AS comment,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey)) AS pk,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisprimary AND i.indnatts = 1 AND a.attnum = i.indkey[0]) AS uq
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
        AND ($1::text IS NULL OR c.relname = $1)
        AND ($2::text IS NULL OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)
             AND has_table_privilege($2, c.oid, 'SELECT,INSERT,UPDATE,DELETE')))
      ORDER BY c.relname, a.attnum`,
    [table, pgRole],
  );
  return rows.map((r) => {
    const nullable = r.nullable === true;
    const { type, json } = snowflakeType(String(r.type), nullable);
    const dflt = r.dflt === null || r.dflt === undefined ? null : String(r.dflt);
    return {
      table: reported(String(r.tbl)),
      name: reported(String(r.name)),
      type,
      json,
      nullable,
      // sequences stand behind IDENTITY columns: Snowflake shows them as autoincrement, not as a default
      dflt: dflt !== null && dflt.startsWith('nextval(') ? null : dflt,
      primary: r.pk === true,
      unique: r.uq === true,
      comment: (r.comment as string | null) ?? null,
    };
  });
}

/** The PostgreSQL name of a Snowflake table name as written (unquoted names fold to upper case, stored lower). */
export function pgTableName(name: string): string {
  return name === name.toUpperCase() ? name.toLowerCase() : name;
}

export async function showColumns(host: CommandHost, session: SessionState, like: (n: string) => boolean, scope: ShowScope): Promise<ResultSet> {
  const names = ['table_name', 'schema_name', 'column_name', 'data_type', 'null?', 'default', 'kind', 'expression', 'comment', 'database_name', 'autoincrement', 'schema_evolution_record'];
  const cols = wrongDatabase(session, scope) ? [] : await visibleColumns(host, session, scope.table === undefined ? null : pgTableName(scope.table));
  if (scope.table !== undefined && cols.length === 0 && !wrongDatabase(session, scope)) throw tableMissing(session, scope.table);
  return {
    statementTypeId: SHOW,
    rowtype: text(names, [], []),
    rowset: cols
      .filter((c) => like(c.name))
      .map((c) => [c.table, 'PUBLIC', c.name, c.json, String(c.nullable), c.dflt ?? '', 'COLUMN', '', c.comment ?? '', session.database, '', null]),
  };
}

function tableMissing(session: SessionState, table: string) {
  return sfErrors.doesNotExist(`${session.database}.PUBLIC.${table}`);
}

export async function describeTable(host: CommandHost, session: SessionState, table: string): Promise<ResultSet> {
  const names = ['name', 'type', 'kind', 'null?', 'default', 'primary key', 'unique key', 'check', 'expression', 'comment', 'policy name', 'privacy domain'];
  const cols = await visibleColumns(host, session, pgTableName(table));
  if (cols.length === 0) throw tableMissing(session, table);
  return {
    statementTypeId: DESCRIBE,
    rowtype: text(names, [], []),
    rowset: cols.map((c) => [c.name, c.type, 'COLUMN', c.nullable ? 'Y' : 'N', c.dflt, c.primary ? 'Y' : 'N', c.unique ? 'Y' : 'N', null, null, c.comment, null, null]),
  };
}
