#!/usr/bin/env bash
# Creates the portal's two database roles and its database on a new PostgreSQL server (run once, as a superuser).
# docker-compose.yml mounts it into postgres's /docker-entrypoint-initdb.d; on another server run it with psql
# access as a superuser and the two passwords in the environment:
#   PORTAL_OWNER_PASSWORD=… PORTAL_APP_PASSWORD=… bash deploy/postgres-roles.sh
# portal_owner owns the schema (migrations: DATABASE_OWNER_URL); portal_app is what the web, worker and beat
# processes connect as (DATABASE_URL). `manage.py migrate` grants portal_app its privileges on every table.
set -euo pipefail
: "${PORTAL_OWNER_PASSWORD:?set PORTAL_OWNER_PASSWORD}" "${PORTAL_APP_PASSWORD:?set PORTAL_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v owner_password="$PORTAL_OWNER_PASSWORD" -v app_password="$PORTAL_APP_PASSWORD" <<'SQL'
-- Safe to run again: missing pieces are created, passwords are (re)set.
SELECT 'CREATE ROLE portal_owner LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portal_owner')
\gexec
SELECT 'CREATE ROLE portal_app LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portal_app')
\gexec
ALTER ROLE portal_owner PASSWORD :'owner_password';
ALTER ROLE portal_app PASSWORD :'app_password';
SELECT 'CREATE DATABASE portal OWNER portal_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_database
                                                                     WHERE datname = 'portal')
\gexec
\connect portal
ALTER SCHEMA public OWNER TO portal_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
