#!/usr/bin/env bash
# bootstrap.sql with the passwords from the environment (.env), in database
# bss of the PostgreSQL that PGHOST/PGPORT name (default: this machine's unix
# socket, port 5432), as the postgres OS user: the extension, the roles, the
# grants, and pg_auto_failover's replication password.
#
# Was the official image's first-start hook (initdb/10-bootstrap.sh), which
# pg_autoctl bypasses: it makes the data directory itself. pgaf-entrypoint.sh
# runs this instead, once, on the node that `pg_autoctl create` made the
# formation's first primary, before that node serves anything (a postgres on
# its unix socket only); the standby gets it all with its copy. Later (a
# changed password), run it by hand on the primary of the moment
# (deploy/README.md); it is idempotent.
set -euo pipefail
: "${BSS_SIDECAR_PASSWORD:?set BSS_SIDECAR_PASSWORD in .env}"
: "${PG_EXPORTER_PASSWORD:?set PG_EXPORTER_PASSWORD in .env}"
: "${PGAF_REPLICATION_PASSWORD:?set PGAF_REPLICATION_PASSWORD in .env}"
psql -X -v ON_ERROR_STOP=1 --dbname bss \
    -v sidecar_password="$BSS_SIDECAR_PASSWORD" -v exporter_password="$PG_EXPORTER_PASSWORD" \
    -v replication_password="$PGAF_REPLICATION_PASSWORD" \
    -f "${PGAF_CONF_DIR:-/etc/postgresql}/bootstrap.sql"
