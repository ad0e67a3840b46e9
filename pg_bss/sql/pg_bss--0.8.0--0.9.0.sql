-- pg_bss 0.8.0 -> 0.9.0: master key rotation (pii/keys.rs). With
-- bss.master_key_file naming a new master key and
-- bss.previous_master_key_file the old one, subject keys wrapped under
-- either open, and bss.rotate_master_key() re-wraps those still under the
-- old one under the new; then the old key file can be destroyed, and with
-- it what an erased subject's wrapped key in old WAL or backups could be
-- opened with. The library of 0.9.0 also seals personal values within the
-- jsonb (other values stay as sent) and keeps subject keys per session.
-- The audit trail records bss_pii_reader's members too.

CREATE FUNCTION bss.rotate_master_key() RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_rotate_master_key';
COMMENT ON FUNCTION bss.rotate_master_key() IS 'Re-wraps the subject keys (of the tenant in effect; every tenant under ''*'') still wrapped under bss.previous_master_key_file''s key under bss.master_key_file''s, and records it in the audit trail; returns how many. Nothing sealed changes.';

REVOKE ALL ON FUNCTION bss.rotate_master_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bss.rotate_master_key() TO bss_store;
ALTER FUNCTION bss.rotate_master_key() OWNER TO bss_store;
ALTER FUNCTION bss.rotate_master_key() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION bss.rotate_master_key() TO bss_admin;
GRANT UPDATE ON bss.subject_keys TO bss_store;

-- Who may see personal data is recorded with the other group roles' members.
CREATE OR REPLACE FUNCTION bss.group_role_members() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(g.rolname, g.members), '{}')
    FROM (SELECT r.rolname, (SELECT coalesce(jsonb_agg(m.rolname ORDER BY m.rolname), '[]')
                             FROM pg_catalog.pg_auth_members am
                             JOIN pg_catalog.pg_roles m ON m.oid = am.member
                             WHERE am.roleid = r.oid) AS members
          FROM pg_catalog.pg_roles r
          WHERE r.rolname IN ('bss_writer', 'bss_reader', 'bss_admin', 'bss_sidecar', 'bss_store', 'bss_pii_reader')) g
$$;
