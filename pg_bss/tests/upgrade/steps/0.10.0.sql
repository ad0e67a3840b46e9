-- Written at pg_bss 0.10.0: bss.append_streams appends to many streams in
-- one call, each element as append_events would, personal fields sealed.
SELECT bss.append_streams(ARRAY['contact-2', 'order-1', 'contact-2'],
    ARRAY['[{"type": "contact.added", "data": {"email": "two@example.org"}}]',
          '[{"type": "order.placed", "data": {"total": 12}}, {"type": "order.placed", "data": {"total": 13}}]',
          '[{"type": "contact.added", "data": {"email": "three@example.org"}}]']::jsonb[]);
SELECT stream_id, stream_version, data ? 'email' AND data->'email' ? 'bss:pii' AS sealed
FROM bss.events WHERE stream_id IN ('contact-2', 'order-1') ORDER BY global_position;
SELECT data->>'email' AS email FROM bss.read_stream('contact-2');
