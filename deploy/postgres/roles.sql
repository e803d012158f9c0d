-- ASO Render's two PostgreSQL roles, in the database this runs in (run it as a superuser; it is
-- idempotent, and also moves the tables of a database migrated by `postgres` to the owner):
--   owner_role  owns the schema and every table: `aso-render migrate` logs in as it (DDL).
--   app_role    what `serve` and `worker` log in as: owns nothing, may only SELECT, INSERT,
--               UPDATE and DELETE rows and use sequences; no CREATE, TRUNCATE, ALTER or DROP.
-- Tables the owner creates later get the same grants through default privileges.
--   psql -v ON_ERROR_STOP=1 -d aso_render \
--        -v owner_role=aso_owner -v owner_password="$DB_MIGRATE_PASSWORD" \
--        -v app_role=aso_app -v app_password="$DB_APP_PASSWORD" -f deploy/postgres/roles.sql
-- docker-compose runs it at the first start of an empty data volume (init-roles.sh).
\set ON_ERROR_STOP on

-- Two distinct roles, neither the superuser running this.
SELECT :'owner_role' <> :'app_role' AND current_user NOT IN (:'owner_role', :'app_role')
   AND 'postgres' NOT IN (:'owner_role', :'app_role') AS roles_ok \gset
\if :roles_ok
\else
DO $$ BEGIN RAISE EXCEPTION 'owner_role and app_role must be two different roles, neither of them postgres nor the superuser running this'; END $$;
\endif

-- Roles: created once, their attributes and passwords set on every run.
SELECT format('CREATE ROLE %I', :'owner_role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I', :'app_role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"owner_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_password';
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_password';

-- The database: only these two roles (and superusers) may connect; nobody else gets TEMP.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), :'owner_role', :'app_role') \gexec

-- The schema: owned by the migration role; the application may only look names up in it.
ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";

-- Tables and sequences that exist already (a database migrated as `postgres` before): moved to
-- the owner, then the application's rights set to exactly the four verbs.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner_role') FROM pg_tables WHERE schemaname = 'public' \gexec
SELECT format('ALTER SEQUENCE public.%I OWNER TO %I', c.relname, :'owner_role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind = 'S'
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) \gexec
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app_role";
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- What migrations create from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public GRANT USAGE ON SEQUENCES TO :"app_role";
