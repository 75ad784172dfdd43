/**
 * The emulated account's own catalogue (users, roles, role grants, query history), kept in schema `_sfemu` of the
 * backing database so that it survives a restart. Table privileges are PostgreSQL's own GRANTs on the NOLOGIN roles
 * that back Snowflake roles, so PostgreSQL enforces them.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from './sql-tokens.js';

export const ACCOUNTADMIN = 'ACCOUNTADMIN';
export const PUBLIC_ROLE = 'PUBLIC';

export interface UserRecord {
  name: string;
  loginName: string;
  displayName: string | null;
  type: string;
  rsaPublicKey: string | null;
  defaultRole: string | null;
  defaultWarehouse: string | null;
  defaultNamespace: string | null;
  disabled: boolean;
  daysToExpiry: number | null;
  expiresAt: Date | null;
  comment: string | null;
  queryTag: string | null;
  email: string | null;
  createdOn: Date;
}

export interface RoleRecord {
  name: string;
  /** null for ACCOUNTADMIN: it runs as the connecting superuser. */
  pgRole: string | null;
  comment: string | null;
  createdOn: Date;
}

export type HistoryStatus = 'RUNNING' | 'SUCCESS' | 'FAILED' | 'ABORTED';

export interface HistoryRecord {
  queryId: string;
  sessionId: string;
  user: string;
  role: string;
  queryTag: string | null;
  sqlText: string;
  status: HistoryStatus;
  errorCode: string | null;
  errorMessage: string | null;
  startTime: Date;
  endTime: Date | null;
}

/** Columns a CREATE/ALTER USER may set, in the store's column names. */
export interface UserProps {
  loginName?: string;
  displayName?: string | null;
  type?: string;
  rsaPublicKey?: string | null;
  defaultRole?: string | null;
  defaultWarehouse?: string | null;
  defaultNamespace?: string | null;
  disabled?: boolean;
  daysToExpiry?: number | null;
  comment?: string | null;
  queryTag?: string | null;
  email?: string | null;
}

const USER_COLUMNS: Record<keyof UserProps, string> = {
  loginName: 'login_name',
  displayName: 'display_name',
  type: 'type',
  rsaPublicKey: 'rsa_public_key',
  defaultRole: 'default_role',
  defaultWarehouse: 'default_warehouse',
  defaultNamespace: 'default_namespace',
  disabled: 'disabled',
  daysToExpiry: 'days_to_expiry',
  comment: 'comment',
  queryTag: 'query_tag',
  email: 'email',
};

const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS _sfemu;
CREATE TABLE IF NOT EXISTS _sfemu.users (
  name text PRIMARY KEY,
  login_name text NOT NULL,
  display_name text,
  type text NOT NULL DEFAULT 'PERSON',
  rsa_public_key text,
  default_role text,
  default_warehouse text,
  default_namespace text,
  disabled boolean NOT NULL DEFAULT false,
  days_to_expiry double precision,
  expires_at timestamptz,
  comment text,
  query_tag text,
  email text,
  created_on timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS _sfemu.roles (
  name text PRIMARY KEY,
  pg_role text UNIQUE,
  comment text,
  created_on timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS _sfemu.role_grants (
  role_name text NOT NULL REFERENCES _sfemu.roles(name) ON DELETE CASCADE,
  user_name text NOT NULL REFERENCES _sfemu.users(name) ON DELETE CASCADE,
  granted_on timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (role_name, user_name)
);
CREATE TABLE IF NOT EXISTS _sfemu.query_history (
  seq bigserial PRIMARY KEY,
  query_id uuid NOT NULL UNIQUE,
  session_id bigint NOT NULL,
  user_name text NOT NULL,
  role_name text NOT NULL,
  query_tag text,
  sql_text text NOT NULL,
  status text NOT NULL,
  error_code text,
  error_message text,
  start_time timestamptz NOT NULL DEFAULT clock_timestamp(),
  end_time timestamptz
);
CREATE SCHEMA IF NOT EXISTS _sfemu_fn;
GRANT USAGE ON SCHEMA _sfemu_fn TO PUBLIC;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_role"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.role', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_user"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.user', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_database"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.database', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_schema"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.schema', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_warehouse"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.warehouse', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_account"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.account', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn."current_session"() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('sfemu.session', true) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.parse_json(text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$ SELECT $1::jsonb $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.try_parse_json(text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN $1::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.iff(boolean, anycompatible, anycompatible) RETURNS anycompatible LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN $1 THEN $2 ELSE $3 END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.nvl2(anyelement, anycompatible, anycompatible) RETURNS anycompatible LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN $1 IS NOT NULL THEN $2 ELSE $3 END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.zeroifnull(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce($1, 0) $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.to_number(anyelement) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT $1::text::numeric $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.to_double(anyelement) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT $1::text::double precision $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.try_to_number(anyelement) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN $1::text::numeric; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.try_to_date(anyelement) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN $1::text::date; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.uuid_string() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT gen_random_uuid()::text $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.listagg_step(text, anyelement, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2::text ELSE $1 || $3 || $2::text END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.listagg_step(text, anyelement) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN $2 IS NULL THEN $1 ELSE coalesce($1, '') || $2::text END $$;
CREATE OR REPLACE FUNCTION _sfemu_fn.listagg_final(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce($1, '') $$;
CREATE OR REPLACE AGGREGATE _sfemu_fn.listagg(anyelement, text) (SFUNC = _sfemu_fn.listagg_step, STYPE = text, FINALFUNC = _sfemu_fn.listagg_final);
CREATE OR REPLACE AGGREGATE _sfemu_fn.listagg(anyelement) (SFUNC = _sfemu_fn.listagg_step, STYPE = text, FINALFUNC = _sfemu_fn.listagg_final);
CREATE OR REPLACE FUNCTION _sfemu_fn.flatten(input jsonb, recursive boolean DEFAULT false, mode text DEFAULT 'BOTH')
RETURNS TABLE(seq bigint, key text, path text, index integer, value jsonb, this jsonb) LANGUAGE sql IMMUTABLE AS $$
  SELECT 1::bigint, NULL::text, '[' || (e.ord - 1) || ']', (e.ord - 1)::integer, e.v, input
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(input) = 'array' THEN input ELSE '[]'::jsonb END) WITH ORDINALITY AS e(v, ord)
  UNION ALL
  SELECT 1::bigint, o.k, o.k, NULL::integer, o.v, input
    FROM jsonb_each(CASE WHEN jsonb_typeof(input) = 'object' THEN input ELSE '{}'::jsonb END) AS o(k, v)
$$;
CREATE SCHEMA IF NOT EXISTS _sfemu_info;
GRANT USAGE ON SCHEMA _sfemu_info TO PUBLIC;
CREATE OR REPLACE VIEW _sfemu_info.tables AS
  SELECT current_setting('sfemu.database', true) AS table_catalog, upper(t.table_schema) AS table_schema,
         CASE WHEN t.table_name = lower(t.table_name) THEN upper(t.table_name) ELSE t.table_name END AS table_name,
         'ACCOUNTADMIN'::text AS table_owner, CASE t.table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type,
         'NO'::text AS is_transient, NULL::text AS clustering_key, NULL::numeric AS row_count, NULL::numeric AS bytes,
         1::numeric AS retention_time, NULL::text AS comment
    FROM information_schema.tables t WHERE t.table_schema = 'public';
CREATE OR REPLACE VIEW _sfemu_info.columns AS
  SELECT current_setting('sfemu.database', true) AS table_catalog, upper(c.table_schema) AS table_schema,
         CASE WHEN c.table_name = lower(c.table_name) THEN upper(c.table_name) ELSE c.table_name END AS table_name,
         CASE WHEN c.column_name = lower(c.column_name) THEN upper(c.column_name) ELSE c.column_name END AS column_name,
         c.ordinal_position::numeric AS ordinal_position, c.column_default, c.is_nullable::text AS is_nullable,
         CASE WHEN c.data_type IN ('integer', 'bigint', 'smallint', 'numeric') THEN 'NUMBER'
              WHEN c.data_type IN ('text', 'character varying', 'character') THEN 'TEXT'
              WHEN c.data_type = 'timestamp without time zone' THEN 'TIMESTAMP_NTZ'
              WHEN c.data_type = 'timestamp with time zone' THEN 'TIMESTAMP_LTZ'
              WHEN c.data_type IN ('double precision', 'real') THEN 'FLOAT'
              WHEN c.data_type IN ('jsonb', 'json') THEN 'VARIANT'
              WHEN c.data_type = 'bytea' THEN 'BINARY'
              ELSE upper(c.data_type) END AS data_type,
         CASE WHEN c.data_type IN ('text', 'character varying', 'character') THEN coalesce(c.character_maximum_length, 16777216) END::numeric AS character_maximum_length,
         CASE WHEN c.data_type IN ('integer', 'bigint', 'smallint') THEN 38 WHEN c.data_type = 'numeric' THEN coalesce(c.numeric_precision, 38) END::numeric AS numeric_precision,
         CASE WHEN c.data_type IN ('integer', 'bigint', 'smallint') THEN 0 WHEN c.data_type = 'numeric' THEN coalesce(c.numeric_scale, 0) END::numeric AS numeric_scale,
         NULL::text AS comment
    FROM information_schema.columns c WHERE c.table_schema = 'public';
CREATE OR REPLACE VIEW _sfemu_info.schemata AS
  SELECT current_setting('sfemu.database', true) AS catalog_name, s.schema_name, 'ACCOUNTADMIN'::text AS schema_owner, NULL::text AS comment
    FROM (VALUES ('INFORMATION_SCHEMA'), ('PUBLIC')) AS s(schema_name);
GRANT SELECT ON ALL TABLES IN SCHEMA _sfemu_info TO PUBLIC;
`;

/** The default prefix: derived from the database name so that emulators on different databases never share roles. */
export function defaultRolePrefix(databaseUrl: string): string {
  const db = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, '')) || 'postgres';
  let clean = db.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (clean.length > 30) clean = `${clean.slice(0, 20)}_${shortHash(db, 8)}`;
  return `sfr_${clean}_`;
}

function shortHash(s: string, n: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** PostgreSQL role name backing a Snowflake role (63-byte identifier limit respected). */
export function backingRoleName(prefix: string, role: string): string {
  const simple = /^[A-Z0-9_]+$/.test(role);
  let name = prefix + (simple ? role.toLowerCase() : `${role.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${shortHash(role, 6)}`);
  if (Buffer.byteLength(name) > 63) name = `${prefix}${shortHash(role, 16)}`;
  return name;
}

type Row = Record<string, unknown>;

function toUser(r: Row): UserRecord {
  return {
    name: String(r.name),
    loginName: String(r.login_name),
    displayName: (r.display_name as string | null) ?? null,
    type: String(r.type),
    rsaPublicKey: (r.rsa_public_key as string | null) ?? null,
    defaultRole: (r.default_role as string | null) ?? null,
    defaultWarehouse: (r.default_warehouse as string | null) ?? null,
    defaultNamespace: (r.default_namespace as string | null) ?? null,
    disabled: r.disabled === true,
    daysToExpiry: r.days_to_expiry === null || r.days_to_expiry === undefined ? null : Number(r.days_to_expiry),
    expiresAt: (r.expires_at as Date | null) ?? null,
    comment: (r.comment as string | null) ?? null,
    queryTag: (r.query_tag as string | null) ?? null,
    email: (r.email as string | null) ?? null,
    createdOn: r.created_on as Date,
  };
}

function toRole(r: Row): RoleRecord {
  return {
    name: String(r.name),
    pgRole: (r.pg_role as string | null) ?? null,
    comment: (r.comment as string | null) ?? null,
    createdOn: r.created_on as Date,
  };
}

export class Store {
  constructor(
    private readonly pool: pg.Pool,
    readonly rolePrefix: string,
  ) {}

  /** Create the catalogue, the built-in roles and the admin user; re-create backing roles missing after a restart. */
  async init(adminUser: string, adminPublicKey: string | null): Promise<void> {
    await this.pool.query(SCHEMA_SQL);
    await this.pool.query(
      `INSERT INTO _sfemu.roles(name, pg_role, comment) VALUES ($1, NULL, 'built-in'), ($2, $3, 'built-in') ON CONFLICT (name) DO NOTHING`,
      [ACCOUNTADMIN, PUBLIC_ROLE, backingRoleName(this.rolePrefix, PUBLIC_ROLE)],
    );
    for (const role of await this.listRoles()) {
      if (role.pgRole) await this.ensureBackingRole(role.pgRole);
    }
    await this.pool.query(
      `INSERT INTO _sfemu.users(name, login_name, type, rsa_public_key, default_role) VALUES ($1, $1, 'PERSON', $2, $3)
       ON CONFLICT (name) DO UPDATE SET rsa_public_key = EXCLUDED.rsa_public_key`,
      [adminUser, adminPublicKey, ACCOUNTADMIN],
    );
    await this.grantRole(ACCOUNTADMIN, adminUser);
  }

  async ensureBackingRole(pgRole: string): Promise<void> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [pgRole]);
    if (!rowCount) {
      try {
        await this.pool.query(`CREATE ROLE ${quoteIdent(pgRole)} NOLOGIN`);
      } catch (err) {
        // Two emulators starting on the same database race here; the role existing is the goal.
        if ((err as { code?: string }).code !== '42710') throw err;
      }
    }
    await this.pool.query(`GRANT USAGE ON SCHEMA public TO ${quoteIdent(pgRole)}`);
  }

  async getUser(name: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.users WHERE name = $1', [name]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  /** Find a user by LOGIN_NAME or name, case-insensitively (as Snowflake matches login names). */
  async findUserByLogin(login: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query(
      'SELECT * FROM _sfemu.users WHERE upper(login_name) = upper($1) OR upper(name) = upper($1) ORDER BY (upper(login_name) = upper($1)) DESC LIMIT 1',
      [login],
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.users ORDER BY name');
    return rows.map(toUser);
  }

  async createUser(name: string, props: UserProps, replace: boolean): Promise<void> {
    if (replace) await this.pool.query('DELETE FROM _sfemu.users WHERE name = $1', [name]);
    await this.pool.query('INSERT INTO _sfemu.users(name, login_name) VALUES ($1, $2)', [name, props.loginName ?? name]);
    await this.alterUser(name, props);
  }

  async alterUser(name: string, props: UserProps): Promise<void> {
    const sets: string[] = [];
    const values: unknown[] = [name];
    for (const [key, col] of Object.entries(USER_COLUMNS) as Array<[keyof UserProps, string]>) {
      if (props[key] === undefined) continue;
      values.push(props[key]);
      sets.push(`${col} = $${values.length}`);
      if (key === 'daysToExpiry') {
        sets.push(`expires_at = CASE WHEN $${values.length}::double precision IS NULL THEN NULL ELSE now() + $${values.length}::double precision * interval '1 day' END`);
      }
    }
    if (sets.length === 0) return;
    await this.pool.query(`UPDATE _sfemu.users SET ${sets.join(', ')} WHERE name = $1`, values);
  }

  async dropUser(name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM _sfemu.users WHERE name = $1', [name]);
    return (rowCount ?? 0) > 0;
  }

  async getRole(name: string): Promise<RoleRecord | null> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.roles WHERE name = $1', [name]);
    return rows[0] ? toRole(rows[0]) : null;
  }

  async listRoles(): Promise<RoleRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.roles ORDER BY name');
    return rows.map(toRole);
  }

  async createRole(name: string, comment: string | null): Promise<RoleRecord> {
    const pgRole = backingRoleName(this.rolePrefix, name);
    await this.ensureBackingRole(pgRole);
    const { rows } = await this.pool.query(
      'INSERT INTO _sfemu.roles(name, pg_role, comment) VALUES ($1, $2, $3) RETURNING *',
      [name, pgRole, comment],
    );
    return toRole(rows[0]);
  }

  /** Drop a role: its PostgreSQL privileges go with DROP OWNED, its user grants with the catalogue row. */
  async dropRole(role: RoleRecord): Promise<void> {
    if (role.pgRole) {
      const ident = quoteIdent(role.pgRole);
      const { rowCount } = await this.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role.pgRole]);
      if (rowCount) {
        await this.pool.query(`DROP OWNED BY ${ident}`);
        await this.pool.query(`DROP ROLE ${ident}`);
      }
    }
    await this.pool.query('DELETE FROM _sfemu.roles WHERE name = $1', [role.name]);
  }

  async grantRole(role: string, user: string): Promise<void> {
    await this.pool.query('INSERT INTO _sfemu.role_grants(role_name, user_name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [role, user]);
  }

  async revokeRole(role: string, user: string): Promise<void> {
    await this.pool.query('DELETE FROM _sfemu.role_grants WHERE role_name = $1 AND user_name = $2', [role, user]);
  }

  /** Roles a user may activate: its grants plus PUBLIC, which every Snowflake user has. */
  async userRoles(user: string): Promise<string[]> {
    const { rows } = await this.pool.query('SELECT role_name FROM _sfemu.role_grants WHERE user_name = $1 ORDER BY role_name', [user]);
    const roles = rows.map((r: Row) => String(r.role_name));
    if (!roles.includes(PUBLIC_ROLE)) roles.push(PUBLIC_ROLE);
    return roles;
  }

  async roleGrantees(role: string): Promise<string[]> {
    const { rows } = await this.pool.query('SELECT user_name FROM _sfemu.role_grants WHERE role_name = $1 ORDER BY user_name', [role]);
    return rows.map((r: Row) => String(r.user_name));
  }

  async historyStart(h: { queryId: string; sessionId: string; user: string; role: string; queryTag: string | null; sqlText: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO _sfemu.query_history(query_id, session_id, user_name, role_name, query_tag, sql_text, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING')`,
      [h.queryId, h.sessionId, h.user, h.role, h.queryTag, h.sqlText],
    );
  }

  async historyEnd(queryId: string, status: HistoryStatus, role: string, error: { code: string; message: string } | null): Promise<void> {
    await this.pool.query(
      `UPDATE _sfemu.query_history SET status = $2, role_name = $3, error_code = $4, error_message = $5, end_time = clock_timestamp()
       WHERE query_id = $1`,
      [queryId, status, role, error?.code ?? null, error?.message ?? null],
    );
  }

  async history(): Promise<HistoryRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.query_history ORDER BY seq');
    return rows.map((r: Row) => toHistory(r));
  }

  async historyOne(queryId: string): Promise<HistoryRecord | null> {
    const { rows } = await this.pool.query('SELECT * FROM _sfemu.query_history WHERE query_id = $1', [queryId]);
    return rows[0] ? toHistory(rows[0]) : null;
  }
}

function toHistory(r: Row): HistoryRecord {
  return {
    queryId: String(r.query_id),
    sessionId: String(r.session_id),
    user: String(r.user_name),
    role: String(r.role_name),
    queryTag: (r.query_tag as string | null) ?? null,
    sqlText: String(r.sql_text),
    status: r.status as HistoryStatus,
    errorCode: (r.error_code as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    startTime: r.start_time as Date,
    endTime: (r.end_time as Date | null) ?? null,
  };
}
