-- The README's data quality examples: schemas, dead letters, validate_event.
\set SHOW_CONTEXT never
SELECT bss.register_schema('usage.recorded', '{
  "type": "object", "required": ["kind", "msisdn", "charge"],
  "properties": {"kind": {"enum": ["voice", "sms", "data"]},
                 "msisdn": {"type": "string", "pattern": "^[0-9]{8,15}$"},
                 "bytes": {"type": "integer", "minimum": 0},
                 "charge": {"type": "number", "minimum": 0}}}');
SELECT type FROM bss.schemas;
SELECT bss.append_event('usage-43', 'usage.recorded', '{"kind": "fax", "msisdn": "31612345678", "charge": -1}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_events('usage-43', '[
  {"type": "usage.recorded", "data": {"kind": "sms", "msisdn": "31612345678", "charge": 0.05}},
  {"type": "usage.recorded", "data": {"kind": "sms", "msisdn": "not-a-number", "charge": 0.05}},
  {"data": {}}
]', on_invalid => 'dead_letter');
SELECT stream_id, batch_index, type, reasons FROM bss.dead_letters ORDER BY id;
SELECT * FROM bss.validate_event('{"type": "usage.recorded", "data": {"kind": "fax"}, "time": "noon"}');
SELECT * FROM bss.validate_event('{"specversion": "0.1", "source": "/x"}');
SELECT * FROM bss.validate_event('{"type": "usage.recorded", "data": {"kind": "sms", "msisdn": "31612345678", "charge": 0}}');
SELECT bss.register_schema('usage.recorded', NULL);
SELECT count(*) FROM bss.schemas;
