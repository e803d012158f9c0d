#!/bin/sh
# Runs once, when the postgres container starts on an empty data volume (docker-entrypoint-initdb.d):
# creates the migration owner and the application role of roles.sql in POSTGRES_DB.
# An existing volume is not touched: run roles.sql by hand there (see deploy/README.md).
set -e
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-aso_render}" \
    -v owner_role="${DB_MIGRATE_USER:?set DB_MIGRATE_USER}" -v owner_password="${DB_MIGRATE_PASSWORD:?set DB_MIGRATE_PASSWORD}" \
    -v app_role="${DB_APP_USER:?set DB_APP_USER}" -v app_password="${DB_APP_PASSWORD:?set DB_APP_PASSWORD}" \
    -f /aso-render/roles.sql
