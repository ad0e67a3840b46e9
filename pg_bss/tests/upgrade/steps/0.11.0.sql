-- Written at pg_bss 0.11.0: bss.read_period reads the events of a period of
-- business time, whatever the order they were appended in.
SELECT bss.append_event('meter-9', 'meter.read', '{"kwh": 1}', "time" => '2026-11-20T10:00:00Z');
SELECT bss.append_event('meter-9', 'meter.read', '{"kwh": 2}', "time" => '2026-11-01T10:00:00Z');
SELECT stream_id, stream_version, data FROM bss.read_period('2026-11-01', '2026-11-02', 0, 100);
