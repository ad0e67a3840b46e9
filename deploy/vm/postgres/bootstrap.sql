-- The pg_bss database's extension, roles and grants for the three-VM layout.
-- Run once, as the superuser, in database bss of the formation's first
-- primary, with the passwords as psql variables (the image's first start does
-- it: pgaf-entrypoint.sh runs bootstrap.sh; the standby gets it all with its
-- copy of the primary):
--
--   psql -X -v ON_ERROR_STOP=1 -d bss \
--        -v sidecar_password="$BSS_SIDECAR_PASSWORD" -v exporter_password="$PG_EXPORTER_PASSWORD" \
--        -v replication_password="$PGAF_REPLICATION_PASSWORD" \
--        -f deploy/vm/postgres/bootstrap.sql
--
-- Running it again (on the primary of the moment) is harmless: it creates
-- what is missing, sets the passwords again and grants again.
--
-- Roles: the extension makes the group roles bss_writer, bss_reader,
-- bss_admin and bss_sidecar and grants each what it may do (README,
-- "Roles and privileges"); this makes the login roles:
--   bss_sidecar        the sidecar logs in as the group role itself, given
--                      LOGIN, REPLICATION (its slot and logical decoding of
--                      publication bss_events) and pg_read_all_stats (it waits
--                      for the synchronous standbys' positions in
--                      pg_stat_replication). As bss_sidecar it reads
--                      bss.events and appends anomaly-* events, nothing else.
--   postgres_exporter  in pg_monitor, which may read bss.stats (the extension
--                      grants it), for every tenant (bss.tenant = '*').
-- Applications get LOGIN roles IN ROLE bss_writer (pg_hba.conf lets
-- +bss_writer in from the writers' network).
-- pg_autoctl create postgres makes pg_auto_failover's own roles:
--   pgautofailover_replicator  the other node's pg_basebackup, streaming
--                      replication and pg_rewind; made without a password,
--                      which this sets (replication_password, optional: a
--                      server without pg_auto_failover has no such role).
--   pgautofailover_monitor     the monitor's health checks: they log in, with
--                      the password pg_autoctl gives this role on every node
--                      (its name) and the monitor's client certificate.
-- Every login over the network also shows a client certificate whose CN is
-- the role (pg_hba.conf: TLS only, clientcert=verify-full); give each
-- application's role its own (scripts/certs.sh --client <role>).
\set ON_ERROR_STOP on

-- Schema bss, bss.events, the publication bss_events (inserts only,
-- publish_via_partition_root) and the SQL API.
CREATE EXTENSION IF NOT EXISTS pg_bss;
ALTER EXTENSION pg_bss UPDATE;
SELECT bss.ensure_partitions();

SELECT 'CREATE ROLE postgres_exporter LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres_exporter') \gexec

-- Passwords are stored as SCRAM-SHA-256 hashes (password_encryption's default).
ALTER ROLE bss_sidecar LOGIN REPLICATION PASSWORD :'sidecar_password';
ALTER ROLE postgres_exporter LOGIN PASSWORD :'exporter_password';
GRANT pg_read_all_stats TO bss_sidecar;
-- Before pg_bss 0.6.0 this made the sidecar a writer: no longer.
REVOKE bss_writer FROM bss_sidecar;
GRANT pg_monitor TO postgres_exporter;
-- bss.stats counts the rows of the tenant in effect: monitoring counts every tenant's.
ALTER ROLE postgres_exporter IN DATABASE bss SET bss.tenant = '*';
\if :{?replication_password}
ALTER ROLE pgautofailover_replicator PASSWORD :'replication_password';
\endif

-- Only these roles (and the superuser) connect to bss.
REVOKE CONNECT, TEMPORARY ON DATABASE bss FROM PUBLIC;
GRANT CONNECT ON DATABASE bss TO bss_writer, bss_reader, bss_admin, bss_sidecar, postgres_exporter;
