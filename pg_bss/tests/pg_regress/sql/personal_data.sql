-- Personal data: fields marked x-pii are sealed on append, under a key per
-- data subject, through every way in; reads open them for bss_pii_reader,
-- mask them for other roles; errors never quote them; bss.erase_subject
-- destroys the key, and from then on every read shows [erased], while other
-- subjects read back intact. Last, byte for byte: no personal value is in
-- the data files or the WAL.
\set SHOW_CONTEXT never
\pset null '·'

CREATE ROLE gdpr_app IN ROLE bss_writer, bss_reader;
CREATE ROLE gdpr_support IN ROLE bss_reader, bss_pii_reader;
CREATE ROLE gdpr_dpo IN ROLE bss_admin;

SET ROLE gdpr_dpo;
SELECT bss.register_schema('subscriber.registered', '{
  "type": "object", "required": ["plan"],
  "properties": {
    "name": {"type": "string", "x-pii": true},
    "email": {"type": "string", "format": "email", "x-pii": true},
    "plan": {"type": "string"},
    "contacts": {"type": "array", "items": {"type": "object", "properties": {"phone": {"type": "string", "x-pii": true}}}}
  }}');
SELECT bss.create_projection('subscriber_overview', 'subscriber');
SELECT bss.set_snapshot_policy('subscriber', 2);
RESET ROLE;

-- Three subjects, through the four append functions; an invalid event kept
-- as a dead letter carries a personal value too.
SET ROLE gdpr_app;
SELECT bss.append_event('subscriber-1', 'subscriber.registered',
    '{"name": "Alice Lindqvist", "email": "alice.lindqvist@example.org", "plan": "gold", "contacts": [{"phone": "+46700000001"}, {"phone": "+46700000002"}]}');
SELECT bss.append_events('subscriber-1', '[{"type": "subscriber.registered", "data": {"name": "Alice L.", "plan": "platinum-7f3c"}},
                                           {"type": "subscriber.registered", "data": {"name": "Alice Secret-Alias", "plan": 5}}]',
                         on_invalid => 'dead_letter');
SELECT bss.append_cloudevents('{"specversion": "1.0", "id": "01932c07-0000-7000-8000-00000000d001", "source": "/crm",
                                "type": "subscriber.registered", "subject": "subscriber-2",
                                "data": {"name": "Bob Bergström", "email": "bob.bergstrom@example.org", "plan": "silver"}}');
SELECT bss.append_streams(ARRAY['subscriber-3', 'plan-3'],
    ARRAY['[{"type": "subscriber.registered", "data": {"name": "Carol Streams", "email": "carol.streams@example.org", "plan": "bronze"}}]',
          '[{"type": "plan.changed", "data": {"plan": "bronze"}}]']::jsonb[]);
RESET ROLE;

-- As stored: every personal value sealed, the rest as sent.
SELECT stream_id, stream_version, data->>'plan' AS plan,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data) k
        WHERE data->k ? 'bss:pii') AS sealed,
       data->'contacts'->0->'phone' ? 'bss:pii' AS phone_sealed
FROM bss.events WHERE stream_id LIKE 'subscriber-%' ORDER BY global_position;
SELECT count(*) AS rows_with_plaintext FROM bss.events WHERE data::text ~ 'Alice|Bob|Carol|example\.org|\+467';
SELECT count(*) AS dead_letters_with_plaintext FROM bss.dead_letters WHERE event::text ~ 'Alice';
SELECT count(*) AS snapshots_with_plaintext FROM bss.snapshots WHERE state::text ~ 'Alice';
SELECT stream_id, version, state->'name' ? 'bss:pii' AS name_sealed FROM bss.snapshots WHERE stream_id LIKE 'subscriber-%';
SELECT count(*) AS projection_rows_with_plaintext FROM bss_projection.subscriber_overview WHERE state::text ~ 'Alice|Bob';
SELECT count(*) AS subject_keys FROM bss.subject_keys WHERE subject LIKE 'subscriber-%';

-- A reader without bss_pii_reader: masked, through every read path.
SET ROLE gdpr_app;
SELECT stream_version, data FROM bss.read_stream('subscriber-1');
SELECT data->>'name' AS name FROM bss.read_all(0, 100000) WHERE stream_id = 'subscriber-2';
SELECT bss.aggregate('subscriber-1');
SELECT stream_id, bss.reveal(state) AS state FROM bss_projection.subscriber_overview ORDER BY 1;
RESET ROLE;

-- A member of bss_pii_reader: plaintext, through every read path.
SET ROLE gdpr_support;
SELECT stream_version, data FROM bss.read_stream('subscriber-1');
SELECT data->>'name' AS name FROM bss.read_category('subscriber') WHERE stream_id = 'subscriber-2';
SELECT bss.aggregate('subscriber-1');
SELECT bss.aggregate('subscriber-1', at_version => 1)->>'email' AS email_at_version_1;
SELECT data->>'email' AS email FROM bss.stream_at('subscriber-2', now());
SELECT data->>'name' AS name FROM bss.events_as_of(now()) WHERE stream_id = 'subscriber-2';
SELECT stream_id, bss.reveal(state) AS state FROM bss_projection.subscriber_overview ORDER BY 1;
RESET ROLE;
SET ROLE gdpr_dpo;
SELECT bss.reveal(event->'data') AS dead_letter FROM bss.dead_letters WHERE stream_id = 'subscriber-1';
RESET ROLE;

-- Sealing leaves every other value as it was sent (numbers with all their
-- digits and their scale), and a sealed value opens as it was sent.
SET ROLE gdpr_dpo;
SELECT bss.register_schema('payment.received', '{"type": "object", "properties": {"iban": {"x-pii": true}, "card": {"x-pii": true}, "note": {"x-pii": true}}}');
RESET ROLE;
SET ROLE gdpr_app;
SELECT bss.append_event('payer-7', 'payment.received',
    '{"iban": 12345678901234567890.10, "card": {"last4": "0042", "exp": 1.50}, "amount": 12345678901234567.890, "fee": 1.10, "note": "é \"q\" \\ \n\u0001"}');
SELECT bss.append_events('payer-7', '[{"type": "payment.received", "data": {"iban": "NL91ABNA0417164300", "amount": 0.000000000000000000001, "card": null}}]');
RESET ROLE;
SELECT stream_version, data->'amount' AS amount, data->'fee' AS fee, data->'card' ? 'bss:pii' AS card_sealed,
       data->'iban' ? 'bss:pii' AS iban_sealed FROM bss.events WHERE stream_id = 'payer-7' ORDER BY stream_version;
SET ROLE gdpr_support;
SELECT stream_version, data FROM bss.read_stream('payer-7');
RESET ROLE;

-- Errors name where a personal field breaks the schema, never its value.
SELECT bss.append_event('subscriber-3', 'subscriber.registered', '{"name": 42, "email": "no-at-sign-zz91", "plan": "gold"}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM bss.validate_event('{"type": "subscriber.registered", "data": {"email": "also-no-at-zz92", "plan": 7}}');

-- Erasure: one call, by the data protection officer.
SET ROLE gdpr_dpo;
SELECT bss.erase_subject('subscriber-1');
SELECT bss.erase_subject('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.reveal(event->'data') AS dead_letter FROM bss.dead_letters WHERE stream_id = 'subscriber-1';
RESET ROLE;
SET ROLE gdpr_support;
SELECT stream_version, data FROM bss.read_stream('subscriber-1');
SELECT bss.aggregate('subscriber-1');
SELECT bss.aggregate('subscriber-1', at_version => 1);
SELECT stream_id, bss.reveal(state) AS state FROM bss_projection.subscriber_overview ORDER BY 1;
-- The other subject is intact.
SELECT data FROM bss.read_stream('subscriber-2');
-- The erasure is an event, and a record of the audit trail.
SELECT stream_id, type, subject, data FROM bss.read_stream('erasure-subscriber-1');
RESET ROLE;
SELECT action, object, details FROM bss.audit_log WHERE action = 'erase_subject';
-- Nobody else writes erasure events.
SET ROLE gdpr_app;
SELECT bss.append_event('erasure-subscriber-2', 'bss.subject_erased', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- New personal data about an erased subject gets a new key.
SELECT bss.append_event('subscriber-1', 'subscriber.registered', '{"name": "Alice Newcomer", "plan": "gold"}');
RESET ROLE;
SET ROLE gdpr_support;
SELECT stream_version, data->>'name' AS name FROM bss.read_stream('subscriber-1');
RESET ROLE;

-- Rotating the master key: with bss.master_key_file naming a new key and
-- bss.previous_master_key_file the old one, keys wrapped under either open
-- and new keys are wrapped under the new one; bss.rotate_master_key
-- re-wraps the rest (an audit record says how many), after which the old
-- key is not needed. Without a previous key there is nothing to rotate.
SELECT bss.rotate_master_key();
SELECT current_setting('bss.master_key_file') AS old_key \gset
\set new_key :old_key '.new'
\setenv NEW_KEY :new_key
\! (umask 077 && openssl rand -hex 32 >"$NEW_KEY")
ALTER SYSTEM SET bss.master_key_file = :'new_key';
ALTER SYSTEM SET bss.previous_master_key_file = :'old_key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('bss.previous_master_key_file') = :'old_key' AS previous_key_set;
SELECT data->>'name' AS name FROM bss.read_stream('subscriber-2');
SELECT bss.append_event('subscriber-4', 'subscriber.registered', '{"name": "Dora Rotated", "plan": "gold"}');
SELECT count(DISTINCT master_check) AS master_keys_in_use FROM bss.subject_keys;
SET ROLE gdpr_dpo;
SELECT bss.rotate_master_key() AS keys_rewrapped;
RESET ROLE;
SELECT count(DISTINCT master_check) AS master_keys_in_use FROM bss.subject_keys;
SELECT action, details->'keys_rewrapped' AS keys_rewrapped FROM bss.audit_log ORDER BY seq DESC LIMIT 1;
ALTER SYSTEM RESET bss.previous_master_key_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('bss.previous_master_key_file') AS previous_key;
SELECT stream_id, data->>'name' AS name FROM bss.read_category('subscriber') WHERE stream_id IN ('subscriber-2', 'subscriber-4') ORDER BY stream_id;

-- Byte for byte, in the data files and the WAL: no personal value, erased
-- or not; a value that is not personal is there (the search finds what
-- was written).
CHECKPOINT;
SELECT current_setting('data_directory') AS datadir \gset
\setenv DATADIR :datadir
\! for s in 'Alice Lindqvist' 'alice.lindqvist@example.org' '+46700000001' 'Alice Secret-Alias' 'Bob Bergström' 'bob.bergstrom@example.org' 'Carol Streams' 'carol.streams@example.org' 'Alice Newcomer' 'no-at-sign-zz91'; do printf '%s: %s files\n' "$s" "$(grep -rlaF -e "$s" "$DATADIR/base" "$DATADIR/global" "$DATADIR/pg_wal" | wc -l)"; done
\! printf 'platinum-7f3c (not personal) found in the WAL: %s\n' "$(grep -rlaF -e 'platinum-7f3c' "$DATADIR/pg_wal" | wc -l | awk '{print ($1 > 0) ? "yes" : "no"}')"

-- A batch whose first element is invalid (kept as a dead letter) before a
-- stored one and one of a type without personal fields: each row and each
-- letter keeps its own data, sealed where personal.
SELECT bss.append_events('subscriber-5', '[{"type": "subscriber.registered", "data": {"name": "Eve Invalid", "plan": 5}},
                                           {"type": "subscriber.registered", "data": {"name": "Eve Valid", "plan": "gold"}},
                                           {"type": "subscriber.noted", "data": {"name": "not personal here"}}]',
                         on_invalid => 'dead_letter');
SELECT stream_version, type, data->'name' ? 'bss:pii' AS name_sealed, data->>'plan' AS plan,
       bss.reveal(data)->>'name' AS revealed
FROM bss.events WHERE stream_id = 'subscriber-5' ORDER BY stream_version;
SELECT batch_index, event->'data'->'name' ? 'bss:pii' AS name_sealed, bss.reveal(event->'data')->>'name' AS revealed
FROM bss.dead_letters WHERE stream_id = 'subscriber-5';
