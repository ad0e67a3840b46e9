-- pg_bss: personal data (GDPR), by crypto-shredding. The fields an event
-- type's JSON Schema marks "x-pii": true are sealed (AES-256-GCM) by the
-- append functions under a key of the event's data subject (its CloudEvents
-- subject, else its stream), before the row exists: tables, the WAL,
-- standbys, backups, Kafka and Redis only ever hold ciphertext. Loaded by
-- CREATE EXTENSION pg_bss after tenants.sql; what 0.8.0 added came with
-- pg_bss--0.7.0--0.8.0.sql. The Rust side: pg_bss/src/pii/.
--
-- What must hold:
--   * No plaintext value of a personal field is written anywhere by pg_bss:
--     not to a table, not to an error message.
--   * A subject key exists only wrapped under the master key, which lives in
--     the file bss.master_key_file names, never in the database.
--   * Once bss.erase_subject destroyed a subject's key, every read of what
--     was sealed under it (events, time travel, snapshots, projections, dead
--     letters) shows '[erased]', for every role.

CREATE TABLE bss.subject_keys (
    tenant       text NOT NULL DEFAULT bss.current_tenant(),
    subject      text NOT NULL,
    key_id       uuid NOT NULL UNIQUE,
    wrapped      bytea NOT NULL,
    master_check text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, tenant)  -- found by subject; row-level security picks the tenant
);
COMMENT ON TABLE bss.subject_keys IS 'One AES-256 key per data subject with personal data, wrapped (AES-256-GCM) under the master key of bss.master_key_file (master_check identifies it). bss.erase_subject deletes a subject''s row.';
SELECT pg_catalog.pg_extension_config_dump('bss.subject_keys', '');
SELECT bss.isolate_tenants('bss.subject_keys');

-- Opens, masks or marks erased every sealed value of a document: plaintext
-- for members of bss_pii_reader (and superusers), '[personal data]' for
-- other roles, '[erased]' once the key is gone. For projection states and
-- dead letters; the read functions apply it themselves.
CREATE FUNCTION bss.reveal(doc jsonb) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_reveal';
COMMENT ON FUNCTION bss.reveal(jsonb) IS 'A document with its sealed personal values opened (bss_pii_reader), masked as [personal data] (other roles) or [erased].';

-- The same, for the store's functions, which already run as bss_store:
-- no switch of role for every row read.
CREATE FUNCTION bss.reveal_in_store(doc jsonb) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_reveal';

-- bss.events as the read functions return it.
CREATE VIEW bss.events_revealed WITH (security_invoker = true) AS
SELECT e.global_position, e.stream_id, e.stream_version, e.category, e.event_id, e.source, e.type,
       e.subject, e."time", e.datacontenttype, e.dataschema, bss.reveal_in_store(e.data) AS data,
       e.metadata, e.region, e.position_horizon, e.recorded_at, e.tenant
FROM bss.events e;

CREATE FUNCTION bss.erase_subject(subject text) RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_erase_subject';
COMMENT ON FUNCTION bss.erase_subject(text) IS 'GDPR erasure: destroys the data subject''s key (of the tenant in effect), so that every value sealed under it reads as [erased], and records the erasure as an event of stream erasure-<subject>; returns the number of keys destroyed.';

-- Added in 0.9.0 (pg_bss--0.8.0--0.9.0.sql).
CREATE FUNCTION bss.rotate_master_key() RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_rotate_master_key';
COMMENT ON FUNCTION bss.rotate_master_key() IS 'Re-wraps the subject keys (of the tenant in effect; every tenant under ''*'') still wrapped under bss.previous_master_key_file''s key under bss.master_key_file''s, and records it in the audit trail; returns how many. Nothing sealed changes.';
