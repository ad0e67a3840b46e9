#!/usr/bin/env python3
"""Reads Kafka topics from the beginning with the confluent-kafka client
(librdkafka, independent of the sidecar's) and prints one JSON line per
message: topic, partition, offset, key, value and headers. Stops after
--expect messages (with --idle S: once at least --expect arrived and
nothing more came for S seconds, to see duplicates too), or when --timeout
seconds have passed (then exits 3).

Used by the sidecar's end-to-end tests as the independent check of what
landed in the broker."""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--idle", type=float, default=None)
    ap.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka setting, e.g. security.protocol=SSL (repeatable)")
    args = ap.parse_args()
    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": f"bss-test-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }
    for setting in args.config:
        key, sep, value = setting.partition("=")
        if not sep:
            ap.error(f"--config {setting!r}: want KEY=VALUE")
        config[key] = value
    consumer = Consumer(config)
    consumer.subscribe(args.topic)
    seen = 0
    deadline = time.monotonic() + args.timeout
    out = sys.stdout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if args.idle is None and seen >= args.expect:
                break
            if args.idle is not None and seen >= args.expect and time.monotonic() - last > args.idle:
                break
            msgs = consumer.consume(num_messages=10000, timeout=0.5)
            if msgs:
                last = time.monotonic()
            for m in msgs:
                if args.idle is None and seen >= args.expect:
                    break
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    print(f"kafka error: {m.error()}", file=sys.stderr)
                    continue
                headers = {k: (v.decode() if v is not None else None)
                           for k, v in (m.headers() or [])}
                out.write(json.dumps({
                    "topic": m.topic(),
                    "partition": m.partition(),
                    "offset": m.offset(),
                    "key": m.key().decode() if m.key() is not None else None,
                    "value": m.value().decode() if m.value() is not None else None,
                    "headers": headers,
                }) + "\n")
                seen += 1
    finally:
        consumer.close()
    out.flush()
    if seen < args.expect:
        print(f"only {seen} of {args.expect} messages within {args.timeout}s", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
