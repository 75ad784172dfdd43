-- One database role per service and an owner for the schema (generated from packages/cli/src/commands/migrate.ts:
-- rolesSql('airlock', 'airlock', …)). Run once as a superuser in the state database, set each password with
-- ALTER ROLE … PASSWORD, then: DATABASE_URL=postgres://airlock_owner:…@db/airlock airlock migrate --roles airlock
CREATE ROLE "airlock_owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE ROLE "airlock_identity" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_policy" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_approval" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_credential" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_audit" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_proxy" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
CREATE ROLE "airlock_console" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT;
ALTER DATABASE "airlock" OWNER TO "airlock_owner";
ALTER SCHEMA public OWNER TO "airlock_owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'airlock_audit_writer') THEN CREATE ROLE airlock_audit_writer NOLOGIN; END IF; END $$;
GRANT airlock_audit_writer TO "airlock_owner" WITH ADMIN OPTION;
GRANT airlock_audit_writer TO "airlock_audit";
