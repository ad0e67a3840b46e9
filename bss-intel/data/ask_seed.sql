-- bss-intel ask's evaluation store (scripts/intel_ask.sh loads it into a
-- scratch database; bss-intel/data/ask_questions.tsv holds the questions and
-- the answers worked out from it, not taken from the tool). A small BSS
-- around Wednesday 2026-11-25 12:00 UTC, the evaluation's --now: eight
-- customers of both segments (customer.created carries the segment, as
-- bss-loadgen's do), their subscriptions, invoices, payments received and
-- failed, two cancellations,
-- tickets opened and classified (as the sidecar's intelligence stage
-- classifies them), usage records, two anomalies, and two dead letters.
-- Every event's "time" (business time, what ask's periods filter on) is
-- given; each stream is appended in one call with expected_version => 0, so
-- loading it twice fails instead of doubling it.
SET client_min_messages = warning;
SELECT bss.append_events('customer-1', $$[
  {"type": "customer.created", "time": "2026-10-05T09:00:00Z", "data": {"customer_id": "customer-1", "name": "Ada Lovelace", "segment": "business", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-10-05T09:01:00Z", "data": {"customer_id": "customer-1", "plan": "unlimited-xl", "monthly_fee": 45.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-01T02:00:00Z", "data": {"customer_id": "customer-1", "invoice_id": "INV-1001", "period": "2026-10", "amount": 45.00, "currency": "EUR"}},
  {"type": "payment.received", "time": "2026-11-03T10:00:00Z", "data": {"customer_id": "customer-1", "payment_id": "PAY-2001", "invoice_id": "INV-1001", "amount": 45.00, "currency": "EUR", "method": "sepa_debit"}},
  {"type": "subscription.changed", "time": "2026-11-20T15:00:00Z", "data": {"customer_id": "customer-1", "plan": "postpaid-m", "monthly_fee": 25.00}},
  {"type": "invoice.issued", "time": "2026-11-21T02:00:00Z", "data": {"customer_id": "customer-1", "invoice_id": "INV-1010", "period": "2026-11", "amount": 12.50, "currency": "EUR"}},
  {"type": "payment.failed", "time": "2026-11-24T09:15:00Z", "data": {"customer_id": "customer-1", "payment_id": "PAY-2010", "invoice_id": "INV-1010", "amount": 12.50, "currency": "EUR", "method": "card", "reason": "card_expired", "will_retry": true}},
  {"type": "payment.failed", "time": "2026-11-25T08:00:00Z", "data": {"customer_id": "customer-1", "payment_id": "PAY-2011", "invoice_id": "INV-1010", "amount": 12.50, "currency": "EUR", "method": "card", "reason": "card_expired", "will_retry": false}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-2', $$[
  {"type": "customer.created", "time": "2026-10-12T10:00:00Z", "data": {"customer_id": "customer-2", "name": "Bram de Vries", "segment": "consumer", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-10-12T10:01:00Z", "data": {"customer_id": "customer-2", "plan": "postpaid-m", "monthly_fee": 25.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-01T02:00:00Z", "data": {"customer_id": "customer-2", "invoice_id": "INV-1002", "period": "2026-10", "amount": 25.00, "currency": "EUR"}},
  {"type": "payment.received", "time": "2026-11-04T11:00:00Z", "data": {"customer_id": "customer-2", "payment_id": "PAY-2002", "invoice_id": "INV-1002", "amount": 25.00, "currency": "EUR", "method": "ideal"}},
  {"type": "subscription.cancelled", "time": "2026-11-20T16:30:00Z", "data": {"customer_id": "customer-2", "plan": "postpaid-m", "reason": "price"}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-3', $$[
  {"type": "customer.created", "time": "2026-11-02T11:00:00Z", "data": {"customer_id": "customer-3", "name": "Chloe Jansen", "segment": "business", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-02T11:01:00Z", "data": {"customer_id": "customer-3", "plan": "postpaid-m", "monthly_fee": 25.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-20T02:00:00Z", "data": {"customer_id": "customer-3", "invoice_id": "INV-1003", "period": "2026-11", "amount": 25.00, "currency": "EUR"}},
  {"type": "payment.failed", "time": "2026-11-22T10:00:00Z", "data": {"customer_id": "customer-3", "payment_id": "PAY-2003", "invoice_id": "INV-1003", "amount": 25.00, "currency": "EUR", "method": "sepa_debit", "reason": "insufficient_funds", "will_retry": true}},
  {"type": "payment.failed", "time": "2026-11-24T10:30:00Z", "data": {"customer_id": "customer-3", "payment_id": "PAY-2004", "invoice_id": "INV-1003", "amount": 25.00, "currency": "EUR", "method": "sepa_debit", "reason": "insufficient_funds", "will_retry": true}},
  {"type": "payment.received", "time": "2026-11-25T10:00:00Z", "data": {"customer_id": "customer-3", "payment_id": "PAY-2005", "invoice_id": "INV-1003", "amount": 25.00, "currency": "EUR", "method": "sepa_debit"}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-4', $$[
  {"type": "customer.created", "time": "2026-11-10T14:00:00Z", "data": {"customer_id": "customer-4", "name": "Daan Bakker", "segment": "consumer", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-10T14:01:00Z", "data": {"customer_id": "customer-4", "plan": "prepaid-s", "monthly_fee": 10.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-15T02:00:00Z", "data": {"customer_id": "customer-4", "invoice_id": "INV-1004", "period": "2026-11", "amount": 10.00, "currency": "EUR"}},
  {"type": "payment.received", "time": "2026-11-17T12:00:00Z", "data": {"customer_id": "customer-4", "payment_id": "PAY-2006", "invoice_id": "INV-1004", "amount": 10.00, "currency": "EUR", "method": "ideal"}},
  {"type": "subscription.cancelled", "time": "2026-11-24T16:00:00Z", "data": {"customer_id": "customer-4", "plan": "prepaid-s", "reason": "coverage"}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-5', $$[
  {"type": "customer.created", "time": "2026-11-18T09:30:00Z", "data": {"customer_id": "customer-5", "name": "Eva Visser", "segment": "consumer", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-18T09:31:00Z", "data": {"customer_id": "customer-5", "plan": "postpaid-m", "monthly_fee": 25.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-22T02:00:00Z", "data": {"customer_id": "customer-5", "invoice_id": "INV-1005", "period": "2026-11", "amount": 25.00, "currency": "EUR"}},
  {"type": "payment.failed", "time": "2026-11-24T11:45:00Z", "data": {"customer_id": "customer-5", "payment_id": "PAY-2007", "invoice_id": "INV-1005", "amount": 25.00, "currency": "EUR", "method": "card", "reason": "bank_declined", "will_retry": true}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-6', $$[
  {"type": "customer.created", "time": "2026-11-23T08:15:00Z", "data": {"customer_id": "customer-6", "name": "Finn Smit", "segment": "business", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-23T08:16:00Z", "data": {"customer_id": "customer-6", "plan": "unlimited-xl", "monthly_fee": 45.00, "currency": "EUR"}},
  {"type": "invoice.issued", "time": "2026-11-23T08:20:00Z", "data": {"customer_id": "customer-6", "invoice_id": "INV-1006", "period": "2026-11", "amount": 45.00, "currency": "EUR"}},
  {"type": "payment.received", "time": "2026-11-23T08:30:00Z", "data": {"customer_id": "customer-6", "payment_id": "PAY-2008", "invoice_id": "INV-1006", "amount": 45.00, "currency": "EUR", "method": "card"}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-7', $$[
  {"type": "customer.created", "time": "2026-11-24T13:00:00Z", "data": {"customer_id": "customer-7", "name": "Gina Mulder", "segment": "consumer", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-24T13:01:00Z", "data": {"customer_id": "customer-7", "plan": "prepaid-s", "monthly_fee": 10.00, "currency": "EUR"}}
]$$, expected_version => 0);
SELECT bss.append_events('customer-42', $$[
  {"type": "customer.created", "time": "2026-11-25T09:00:00Z", "data": {"customer_id": "customer-42", "name": "Henk de Boer", "segment": "business", "country": "NL"}},
  {"type": "subscription.activated", "time": "2026-11-25T09:01:00Z", "data": {"customer_id": "customer-42", "plan": "postpaid-m", "monthly_fee": 25.00, "currency": "EUR"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-101', $$[
  {"type": "ticket.opened", "time": "2026-11-20T10:00:00Z", "data": {"ticket_id": "ticket-101", "customer_id": "customer-1", "channel": "email", "category": "network", "priority": "normal", "text": "No signal at the office since this morning"}},
  {"type": "ticket.classified", "time": "2026-11-20T10:00:05Z", "data": {"class": "network", "confidence": 0.93, "sentiment": -0.296, "segment": "business", "plan": "unlimited-xl", "recent_anomalies": 0, "priority": "high", "team": "noc", "rule": "business-network"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-102', $$[
  {"type": "ticket.opened", "time": "2026-11-22T15:00:00Z", "data": {"ticket_id": "ticket-102", "customer_id": "customer-2", "channel": "chat", "category": "billing", "priority": "normal", "text": "Why was I charged twice this month?"}},
  {"type": "ticket.classified", "time": "2026-11-22T15:00:05Z", "data": {"class": "billing", "confidence": 0.88, "sentiment": 0, "segment": "consumer", "plan": "postpaid-m", "recent_anomalies": 0, "priority": "normal", "team": "billing", "rule": "billing"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-103', $$[
  {"type": "ticket.opened", "time": "2026-11-24T09:00:00Z", "data": {"ticket_id": "ticket-103", "customer_id": "customer-3", "channel": "phone", "category": "billing", "priority": "normal", "text": "My direct debit failed but there is money in my account"}},
  {"type": "ticket.classified", "time": "2026-11-24T09:00:05Z", "data": {"class": "billing", "confidence": 0.81, "sentiment": -0.1, "segment": "business", "plan": "postpaid-m", "recent_anomalies": 0, "priority": "normal", "team": "billing", "rule": "billing"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-104', $$[
  {"type": "ticket.opened", "time": "2026-11-24T14:00:00Z", "data": {"ticket_id": "ticket-104", "customer_id": "customer-5", "channel": "chat", "category": "device", "priority": "normal", "text": "My new phone keeps restarting"}},
  {"type": "ticket.classified", "time": "2026-11-24T14:00:05Z", "data": {"class": "device", "confidence": 0.9, "sentiment": 0, "segment": "consumer", "plan": "postpaid-m", "recent_anomalies": 0, "priority": "normal", "team": "device-support", "rule": "device"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-105', $$[
  {"type": "ticket.opened", "time": "2026-11-25T08:30:00Z", "data": {"ticket_id": "ticket-105", "customer_id": "customer-1", "channel": "email", "category": "network", "priority": "high", "text": "Calls drop all the time in Utrecht, this is unacceptable!"}},
  {"type": "ticket.classified", "time": "2026-11-25T08:30:05Z", "data": {"class": "network", "confidence": 0.91, "sentiment": -0.5, "segment": "business", "plan": "postpaid-m", "recent_anomalies": 1, "priority": "high", "team": "noc", "rule": "network-during-anomalies"}}
]$$, expected_version => 0);
SELECT bss.append_events('ticket-106', $$[
  {"type": "ticket.opened", "time": "2026-11-25T10:15:00Z", "data": {"ticket_id": "ticket-106", "customer_id": "customer-7", "channel": "app", "category": "contract", "priority": "low", "text": "How do I switch to a bigger bundle?"}}
]$$, expected_version => 0);
SELECT bss.append_events('usage-1', $$[
  {"type": "usage.recorded", "time": "2026-11-24T08:00:00Z", "data": {"customer_id": "customer-1", "kind": "data", "bytes": 50000000, "charge": 0.50}},
  {"type": "usage.recorded", "time": "2026-11-24T12:00:00Z", "data": {"customer_id": "customer-1", "kind": "voice", "seconds": 120, "charge": 0.10}},
  {"type": "usage.recorded", "time": "2026-11-25T09:30:00Z", "data": {"customer_id": "customer-1", "kind": "sms", "charge": 0.05}}
]$$, expected_version => 0);
SELECT bss.append_events('usage-3', $$[
  {"type": "usage.recorded", "time": "2026-11-23T18:00:00Z", "data": {"customer_id": "customer-3", "kind": "data", "bytes": 20000000, "charge": 0.20}},
  {"type": "usage.recorded", "time": "2026-11-24T19:00:00Z", "data": {"customer_id": "customer-3", "kind": "voice", "seconds": 300, "charge": 0.25}}
]$$, expected_version => 0);
SELECT bss.append_events('usage-42', $$[
  {"type": "usage.recorded", "time": "2026-11-25T09:45:00Z", "data": {"customer_id": "customer-42", "kind": "data", "bytes": 1000000, "charge": 0.01}},
  {"type": "usage.recorded", "time": "2026-11-25T10:30:00Z", "data": {"customer_id": "customer-42", "kind": "voice", "seconds": 60, "charge": 0.05}}
]$$, expected_version => 0);
-- Two invalid records (no data; no type) go to bss.dead_letters.
SELECT bss.append_events('usage-7', $$[
  {"type": "usage.recorded", "time": "2026-11-24T20:00:00Z", "data": {"customer_id": "customer-7", "kind": "sms", "charge": 0.08}},
  {"type": "usage.recorded", "time": "2026-11-24T20:01:00Z"},
  {"data": {"customer_id": "customer-7", "kind": "sms", "charge": 0.08}, "time": "2026-11-24T20:02:00Z"}
]$$, expected_version => 0, on_invalid => 'dead_letter');
SELECT bss.append_events('anomaly-usage-spike', $$[
  {"type": "anomaly.detected", "time": "2026-11-24T12:05:00Z", "data": {"detector": "usage-spike", "algorithm": "zscore", "key": "customer-1", "value": 50000000, "score": 4.2, "source_event_type": "usage.recorded"}}
]$$, expected_version => 0);
SELECT bss.append_events('anomaly-failed-payments', $$[
  {"type": "anomaly.detected", "time": "2026-11-25T08:10:00Z", "data": {"detector": "failed-payments", "algorithm": "count", "key": "payment.failed", "value": 3, "score": 3.5, "source_event_type": "payment.failed"}}
]$$, expected_version => 0);
