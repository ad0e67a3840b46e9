-- Written at pg_bss 0.3.0: a schema, and a batch whose invalid event is kept as a dead letter.
SELECT bss.register_schema('usage.recorded', '{"type": "object", "required": ["units"],
    "properties": {"units": {"type": "integer", "minimum": 0}}}');
SELECT bss.append_events('usage-2', '[{"type": "usage.recorded", "data": {"units": 1}},
                                      {"type": "usage.recorded", "data": {"units": -1}}]',
    on_invalid => 'dead_letter');
SELECT rule, message FROM bss.validate_event('{"type": "usage.recorded", "data": {}}');
