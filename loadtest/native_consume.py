#!/usr/bin/env python3
"""Scenarios (f) and (g)'s yardstick: Python confluent-kafka (librdkafka)
reads a topic from the beginning until N records have come, and prints one
JSON line like loadtest-tool's (records, seconds, records_per_second,
errors). loadtest/run.sh runs it under /usr/bin/time for its CPU.

usage: native_consume.py BOOTSTRAP TOPIC PARTITIONS RECORDS [FETCH_WAIT_MS]

FETCH_WAIT_MS is librdkafka's fetch.wait.max.ms (default 500), set as the
gateway's consumers.fetch_wait_max_ms is: tansu holds every fetch that
long even when it has data, which bounds a consumer to about 120k records/s
at 500 ms here and lets it reach about 630k at 10 ms.
"""
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def main():
    bootstrap, topic, partitions, records = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fetch_wait_ms = sys.argv[5] if len(sys.argv) > 5 else "500"
    # librdkafka's defaults otherwise (fetch.max.bytes 50 MiB,
    # queued.max.messages.kbytes 64 MiB): the client as people run it.
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"native-{topic}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": fetch_wait_ms,
        # As the gateway's consumers have it: with librdkafka's 1000 ms, a
        # partition whose queue passes queued.min.messages stops fetching
        # for a second, and about every other run idled that second (2.5 s
        # against 1.5 s for a million records: 400k records/s against 650k).
        "fetch.queue.backoff.ms": "10",
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    started = time.monotonic()
    deadline = started + 300
    count = errors = 0
    while count < records and time.monotonic() < deadline:
        # No more than are still to come: asked for more, consume() waits
        # out its whole timeout at the end for records that never come.
        wanted = min(10_000, records - count)
        for message in consumer.consume(num_messages=wanted, timeout=1.0):
            if message.error():
                errors += 1
                continue
            message.value()
            count += 1
    elapsed = time.monotonic() - started
    consumer.close()
    if count != records:
        errors += 1
    print(json.dumps({"records": count, "seconds": elapsed,
                      "records_per_second": count / elapsed, "errors": errors}))


if __name__ == "__main__":
    main()
