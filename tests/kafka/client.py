#!/usr/bin/env python3
"""An independent Kafka client for the tests (confluent-kafka / librdkafka).

  client.py BOOTSTRAP create TOPIC PARTITIONS
  client.py BOOTSTRAP produce TOPIC  < lines of JSON {"value", "key"?, "partition"?, "headers"?}
      prints one JSON line per record once acknowledged: {"partition", "offset"}
  client.py BOOTSTRAP produce-many TOPIC PARTITIONS PER_PARTITION SIZE
      produces PER_PARTITION records to each partition, values "P:I:" padded with '.' to SIZE
      bytes (I counts from 0 per partition), in order per partition (idempotent producer);
      prints {"produced": N} once all were acknowledged
  client.py BOOTSTRAP consume TOPIC COUNT TIMEOUT_S
      reads from the earliest offsets; prints one JSON line per record:
      {"key", "value", "headers", "partition", "offset"}; exits 1 if fewer than COUNT arrived.
  client.py BOOTSTRAP committed GROUP TOPIC
      prints the group's committed offsets as one JSON object {"partition": offset}
      (partitions without a committed offset are left out).

TIDEGATE_TEST_KAFKA_CONFIG, when set, is a JSON object of librdkafka settings added to every
client (e.g. SASL credentials or TLS trust for a secured broker).
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def conf(bootstrap, **settings):
    """librdkafka settings: the bootstrap servers, `settings`, and the environment's extras."""
    settings = {k.replace("_", "."): v for k, v in settings.items()}
    settings["bootstrap.servers"] = bootstrap
    settings.update(json.loads(os.environ.get("TIDEGATE_TEST_KAFKA_CONFIG", "{}")))
    return settings


def create(bootstrap, topic, partitions):
    admin = AdminClient(conf(bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for future in futures.values():
        future.result(timeout=30)
    # Wait until the metadata shows every partition.
    deadline = time.time() + 30
    while time.time() < deadline:
        metadata = admin.list_topics(topic=topic, timeout=10)
        found = metadata.topics.get(topic)
        if found is not None and found.error is None and len(found.partitions) == int(partitions):
            return
        time.sleep(0.1)
    sys.exit(f"topic {topic} did not appear with {partitions} partitions")


def produce(bootstrap, topic):
    producer = Producer(conf(bootstrap, partitioner="murmur2_random"))
    results = []

    def delivered(err, msg):
        if err is not None:
            sys.exit(f"delivery failed: {err}")
        results.append({"partition": msg.partition(), "offset": msg.offset()})

    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        kwargs = {"value": record["value"].encode()}
        if record.get("key") is not None:
            kwargs["key"] = record["key"].encode()
        if record.get("partition") is not None:
            kwargs["partition"] = int(record["partition"])
        if record.get("headers"):
            kwargs["headers"] = [(k, v.encode()) for k, v in record["headers"].items()]
        producer.produce(topic, on_delivery=delivered, **kwargs)
        # One at a time keeps the order of lines the order of offsets, per partition.
        producer.flush(30)
    for result in results:
        print(json.dumps(result))


def produce_many(bootstrap, topic, partitions, per_partition, size):
    # One record per batch: tansu answers a fetch from an offset inside a batch with nothing.
    producer = Producer(conf(bootstrap, enable_idempotence=True, linger_ms=1, batch_num_messages=1))
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))

    for i in range(int(per_partition)):
        for p in range(int(partitions)):
            value = f"{p}:{i}:".ljust(int(size), ".")
            while True:
                try:
                    producer.produce(topic, value=value.encode(), partition=p, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    if failed:
        sys.exit(f"delivery failed: {failed[0]}")
    print(json.dumps({"produced": int(partitions) * int(per_partition)}))


def consume(bootstrap, topic, count, timeout_s):
    consumer = Consumer(conf(bootstrap, group_id=f"tidegate-test-{time.time_ns()}", enable_auto_commit=False))
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = [TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions]
    consumer.assign(partitions)
    got = 0
    deadline = time.time() + float(timeout_s)
    while got < int(count) and time.time() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        headers = {k: v.decode() for k, v in (msg.headers() or [])}
        print(json.dumps({
            "key": msg.key().decode() if msg.key() is not None else None,
            "value": msg.value().decode() if msg.value() is not None else None,
            "headers": headers,
            "partition": msg.partition(),
            "offset": msg.offset(),
        }), flush=True)
        got += 1
    consumer.close()
    sys.exit(0 if got >= int(count) else 1)


def committed(bootstrap, group, topic):
    consumer = Consumer(conf(bootstrap, group_id=group, enable_auto_commit=False))
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
    offsets = consumer.committed(partitions, timeout=10)
    # close() would leave the group; this client never joined it (no subscribe), so it is a no-op.
    consumer.close()
    print(json.dumps({str(tp.partition): tp.offset for tp in offsets if tp.offset >= 0}))


if __name__ == "__main__":
    bootstrap, command, *args = sys.argv[1:]
    {"create": create, "produce": produce, "produce-many": produce_many, "consume": consume, "committed": committed}[command](bootstrap, *args)
