#!/usr/bin/env python3
"""The direct side of `tidegate-load broker` for Kafka: confluent-kafka (librdkafka) clients
against the same broker, for the tables of docs/benchmarks.md. Also creates the topics the
harness uses.

  kafka_direct.py BOOTSTRAP create TOPIC PARTITIONS
  kafka_direct.py --broker replay RECORDS CONSUMERS [SIZE] [PARTITIONS]
      starts tansu, produces RECORDS records of SIZE bytes to a new topic, then CONSUMERS
      consumers (one process each) read it from the earliest offsets; prints a markdown row:
      delivered, lost, seconds until the last consumer had everything.
  kafka_direct.py --broker live RATE SECONDS CONSUMERS [SIZE] [PARTITIONS]
      starts tansu, CONSUMERS consumers (one process each) reading every partition of a new
      topic, then one producer at RATE records/s for SECONDS; latency from the produce call
      to the consumer's poll (same machine clock), p50 / p99; prints a markdown row.

`--broker` starts tansu itself (TIDEGATE_CACHE or ~/.cache/tidegate/tansu-0.6.0/bin/tansu) on a
free port and stops it by its PID. Each consumer is its own process: one Python thread could
not keep up with librdkafka, and the GIL would serialise threads.
"""
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for future in futures.values():
        future.result(timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline:
        found = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        if found is not None and found.error is None and len(found.partitions) == int(partitions):
            return
        time.sleep(0.1)
    sys.exit(f"topic {topic} did not appear with {partitions} partitions")


def start_tansu():
    cache = os.environ.get("TIDEGATE_CACHE", os.path.expanduser("~/.cache/tidegate"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    child = subprocess.Popen(
        [f"{cache}/tansu-0.6.0/bin/tansu", "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return child, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    child.kill()
    sys.exit("tansu did not listen")


def consumer(bootstrap, topic, partitions):
    """A consumer of every partition of `topic` from offset 0 (no group: assigned)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"direct-{os.getpid()}-{time.time_ns()}",
                  "enable.auto.commit": False, "fetch.max.bytes": 4 * 1024 * 1024})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    return c


def replay_consumer(bootstrap, topic, partitions, records, deadline, out):
    c = consumer(bootstrap, topic, partitions)
    seen = [set() for _ in range(partitions)]
    got, dup = 0, 0
    while got < records and time.time() < deadline:
        for msg in c.consume(10000, 0.2):
            if msg.error() is not None:
                continue
            part = seen[msg.partition()]
            if msg.offset() in part:
                dup += 1
            else:
                part.add(msg.offset())
                got += 1
    out.put((got, dup, time.time()))
    c.close()


def replay(bootstrap, records, consumers, size, partitions):
    create(bootstrap, "direct", partitions)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1000000})
    payload = b"x" * size
    started = time.time()
    for i in range(records):
        while True:
            try:
                p.produce("direct", payload, partition=i % partitions)
                break
            except BufferError:
                p.poll(0.01)
    p.flush(60)
    publish_s = time.time() - started
    out = multiprocessing.Queue()
    start = time.time()
    deadline = start + 300
    procs = [multiprocessing.Process(target=replay_consumer,
                                     args=(bootstrap, "direct", partitions, records, deadline, out))
             for _ in range(consumers)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    delivered = sum(r[0] for r in results)
    dup = sum(r[1] for r in results)
    last = max(r[2] for r in results) - start
    lost = records * consumers - delivered
    complete = sum(1 for r in results if r[0] >= records)
    print("| run | records | consumers | delivered | lost | duplicates | complete consumers | seconds | deliveries/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| confluent-kafka direct ({partitions} partitions; produced in {publish_s:.1f} s) | {records} | "
          f"{consumers} | {delivered} | {lost} | {dup} | {complete} | {last:.1f} | {delivered / last:.0f} |")


def live_consumer(bootstrap, topic, partitions, expected, deadline, ready, out):
    # The topic is new and empty: reading from offset 0 is reading what is produced from now on.
    c = consumer(bootstrap, topic, partitions)
    c.consume(100, 1.0)
    ready.put(1)
    latencies = []
    while len(latencies) < expected and time.time() < deadline:
        for msg in c.consume(10000, 0.1):
            if msg.error() is None:
                latencies.append(time.time_ns() - int(msg.value()[:20]))
    out.put(latencies)
    c.close()


def live(bootstrap, rate, seconds, consumers, size, partitions):
    create(bootstrap, "direct", partitions)
    expected = int(rate * seconds)
    out, ready = multiprocessing.Queue(), multiprocessing.Queue()
    deadline = time.time() + seconds + 60
    procs = [multiprocessing.Process(target=live_consumer,
                                     args=(bootstrap, "direct", partitions, expected, deadline, ready, out))
             for _ in range(consumers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get()
    time.sleep(2)  # every consumer's fetch is under way
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    start = time.time()
    for i in range(expected):
        due = start + i / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        payload = str(time.time_ns()).rjust(20, "0").encode() + b"x" * max(0, size - 20)
        p.produce("direct", payload, partition=i % partitions)
        p.poll(0)
    p.flush(30)
    all_latencies = []
    for _ in procs:
        all_latencies.extend(out.get())
    for proc in procs:
        proc.join()
    all_latencies.sort()
    delivered = len(all_latencies)

    def pct(q):
        return all_latencies[min(delivered - 1, int(q * delivered))] / 1e6 if delivered else float("nan")

    print("| run | msg/s | consumers | delivered | lost | p50 | p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| confluent-kafka direct ({partitions} partitions) | {rate:g} | {consumers} | {delivered} | "
          f"{expected * consumers - delivered} | {pct(0.5):.3f} ms | {pct(0.99):.3f} ms |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--broker":
        mode, *rest = args[1:]
        child, bootstrap = start_tansu()
        try:
            if mode == "replay":
                records, consumers = int(rest[0]), int(rest[1])
                size = int(rest[2]) if len(rest) > 2 else 100
                partitions = int(rest[3]) if len(rest) > 3 else 3
                replay(bootstrap, records, consumers, size, partitions)
            else:
                rate, seconds, consumers = float(rest[0]), float(rest[1]), int(rest[2])
                size = int(rest[3]) if len(rest) > 3 else 100
                partitions = int(rest[4]) if len(rest) > 4 else 3
                live(bootstrap, rate, seconds, consumers, size, partitions)
        finally:
            child.kill()
            child.wait()
    else:
        bootstrap, command, *rest = args
        {"create": create}[command](bootstrap, *rest)
