-- Written at pg_bss 0.8.0: a field marked x-pii is sealed on append, opened
-- for a superuser, and reads as [erased] once its subject is erased.
SELECT bss.register_schema('contact.added', '{"type": "object", "properties": {"email": {"type": "string", "x-pii": true}}}');
SELECT bss.append_event('contact-1', 'contact.added', '{"email": "one@example.org"}');
SELECT data ? 'email' AND data->'email' ? 'bss:pii' AS sealed FROM bss.events WHERE stream_id = 'contact-1';
SELECT data->>'email' AS email FROM bss.read_stream('contact-1');
SELECT bss.erase_subject('contact-1');
SELECT data->>'email' AS email FROM bss.read_stream('contact-1');
