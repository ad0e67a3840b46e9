"""Counts the records of a Kafka topic by reading it from the beginning,
through confluent-kafka (a build of librdkafka other than the sidecar's),
with the client settings given as key=value arguments. Reads until nothing
came for IDLE_SECONDS (tansu's high watermarks are not record counts), at
most DEADLINE_SECONDS.

    kafka_count.py TOPIC [key=value]...     prints the number of records
"""

import sys
import time

from confluent_kafka import Consumer, TopicPartition

IDLE_SECONDS = 3
DEADLINE_SECONDS = 60


def main() -> int:
    topic = sys.argv[1]
    settings = dict(a.split("=", 1) for a in sys.argv[2:])
    consumer = Consumer({"group.id": "bss-tls-count", "enable.auto.commit": False, **settings})
    meta = consumer.list_topics(topic, timeout=15)
    t = meta.topics.get(topic)
    if t is None or t.error is not None:
        print(f"topic {topic}: {t.error if t else 'missing'}", file=sys.stderr)
        return 1
    consumer.assign([TopicPartition(topic, p, 0) for p in t.partitions])
    count, last, deadline = 0, time.monotonic(), time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() - last < IDLE_SECONDS:
        if time.monotonic() > deadline:
            print(f"topic {topic}: still reading after {DEADLINE_SECONDS} s", file=sys.stderr)
            return 1
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print(f"topic {topic}: {msg.error()}", file=sys.stderr)
            return 1
        count += 1
        last = time.monotonic()
    consumer.close()
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
