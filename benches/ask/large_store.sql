-- make bench-ask's store: 2000 customers (half business) created on
-- 2026-10-01, then 30 days (2026-10-27 to 11-25) of usage (14 records a
-- customer a day) and, every 8th day per customer, a failed and a received
-- payment: 857,000 events appended day by day, so that business time
-- follows appends as in live traffic.
SELECT bss.append_events('customer-' || c, jsonb_build_array(jsonb_build_object(
    'type', 'customer.created', 'time', '2026-10-01T08:00:00Z',
    'data', jsonb_build_object('segment', CASE WHEN c % 2 = 0 THEN 'business' ELSE 'consumer' END))))
FROM generate_series(1, 2000) c;
DO $$
DECLARE d int; c int; day timestamptz;
BEGIN
  FOR d IN 0..29 LOOP
    day := timestamptz '2026-10-27T00:00:00Z' + d * interval '1 day';
    FOR c IN 1..2000 LOOP
      PERFORM bss.append_events('usage-' || c || '-' || d, (
        SELECT jsonb_agg(jsonb_build_object('type', 'usage.recorded',
               'time', to_char((day + (i * 5000 + c) * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'data', jsonb_build_object('customer_id', 'customer-' || c, 'kind', 'data', 'bytes', 1000 * i)))
        FROM generate_series(1, 14) i));
      IF (c + d) % 8 = 0 THEN
        PERFORM bss.append_events('payment-' || c || '-' || d, jsonb_build_array(
          jsonb_build_object('type', 'payment.failed', 'time', to_char((day + interval '10 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                             'data', jsonb_build_object('customer_id', 'customer-' || c, 'amount', 10, 'reason', 'insufficient_funds')),
          jsonb_build_object('type', 'payment.received', 'time', to_char((day + interval '11 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                             'data', jsonb_build_object('customer_id', 'customer-' || c, 'amount', 10))));
      END IF;
    END LOOP;
    COMMIT;
  END LOOP;
END $$;
VACUUM ANALYZE bss.events;

