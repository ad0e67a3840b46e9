"""A second, independent read of the broker at the end of a scenario.

bss-chaos-check watch records arrivals live, through the rdkafka crate's
librdkafka. This reads every partition of the scenario's topics once more,
from the beginning to the high watermark, through confluent-kafka (another
build of librdkafka), and prints one JSON object: how many records it read
and which of the event ids given on stdin (the acknowledged ones) are not in
the broker. A second opinion on the account's Kafka losses, independent of
the live watch: where the two disagree, one of the readers is wrong. (After
broker-loss the broker holds only what came after its replacement, so there
it is not comparable.)

    kafka_recount.py BROKERS TOPIC... < acknowledged_ids.txt
"""

import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition

POLL_SECONDS = 1.0
DEADLINE_SECONDS = 120
IDLE_SECONDS = 3


def main() -> int:
    brokers, topics = sys.argv[1], sys.argv[2:]
    wanted = {line.strip().lower() for line in sys.stdin if line.strip()}
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "bss-chaos-recount",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    metadata = consumer.list_topics(timeout=10)
    partitions, ends = [], {}
    for topic in topics:
        t = metadata.topics.get(topic)
        if t is None or t.error is not None:
            continue
        for p in t.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > 0:
                partitions.append(TopicPartition(topic, p, 0))
                ends[(topic, p)] = high
    consumer.assign(partitions)
    # Not "until the high watermark": tansu 0.6.0 reports a partition's high
    # watermark as its last batch's base offset + 1, so the rest of that
    # batch lies beyond it. Fetches from below return whole batches, so
    # reading on until nothing has come for IDLE_SECONDS gets everything.
    found, records, seen_end = set(), 0, set()
    deadline = time.monotonic() + DEADLINE_SECONDS
    idle_since = time.monotonic()
    while time.monotonic() < deadline:
        msg = consumer.poll(POLL_SECONDS)
        if msg is None or msg.error():
            if len(seen_end) == len(ends) and time.monotonic() - idle_since >= IDLE_SECONDS:
                break
            continue
        idle_since = time.monotonic()
        records += 1
        for key, value in msg.headers() or []:
            if key == "ce_id" and value is not None:
                ce_id = value.decode().lower()
                if ce_id in wanted:
                    found.add(ce_id)
        key = (msg.topic(), msg.partition())
        if msg.offset() + 1 >= ends[key]:
            seen_end.add(key)
    consumer.close()
    print(json.dumps({
        "records": records,
        "partitions": len(ends),
        "complete": len(seen_end) == len(ends),
        "acknowledged": len(wanted),
        "acknowledged_not_in_broker": len(wanted - found),
        "examples_not_in_broker": sorted(wanted - found)[:10],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
