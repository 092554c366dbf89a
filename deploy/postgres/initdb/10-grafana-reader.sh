#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (postgres image entrypoint).
# Creates the read-only role Grafana uses. The migrations grant it SELECT on the data tables (not
# on secrets) when the role exists, so it must exist before `migrations upgrade` first runs.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$GRAFANA_DB_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'pw';
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
GRANT CONNECT ON DATABASE myhealth TO grafana_reader;
SQL
