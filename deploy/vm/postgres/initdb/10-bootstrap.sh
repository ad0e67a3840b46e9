#!/usr/bin/env bash
# First start of the postgres image only (an empty data volume): the image has
# created database bss (POSTGRES_DB); this creates the extension, the roles and
# the grants of bootstrap.sql with the passwords from the container's
# environment (.env). Later changes: run bootstrap.sql by hand (deploy/README.md).
set -euo pipefail
: "${BSS_SIDECAR_PASSWORD:?set BSS_SIDECAR_PASSWORD in .env}"
: "${PG_EXPORTER_PASSWORD:?set PG_EXPORTER_PASSWORD in .env}"
psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v sidecar_password="$BSS_SIDECAR_PASSWORD" -v exporter_password="$PG_EXPORTER_PASSWORD" \
    -f /etc/postgresql/bootstrap.sql
