"""Smoke test with confluent-kafka (librdkafka): create a topic, produce with idempotence,
consume in a group, commit, read the committed offsets back, list and describe groups.

Usage: smoke_confluent.py BOOTSTRAP. Prints one line per step; exits non-zero on failure.
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "py-confluent"
GROUP = "py-confluent-group"
COUNT = 300


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")


admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for future in admin.create_topics([NewTopic(TOPIC, num_partitions=3)]).values():
    future.result(timeout=10)
print("created topic")

producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 5})
delivered = []
for i in range(COUNT):
    producer.produce(
        TOPIC,
        key=f"k{i}",
        value=f"v{i}",
        on_delivery=lambda err, msg: delivered.append(err),
    )
check(producer.flush(15) == 0, "unflushed records")
check(len(delivered) == COUNT and all(e is None for e in delivered), "delivery errors")
print(f"produced {COUNT}")

consumer = Consumer(
    {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": GROUP,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
)
consumer.subscribe([TOPIC])
seen = set()
deadline = time.time() + 30
while len(seen) < COUNT and time.time() < deadline:
    msg = consumer.poll(0.5)
    if msg is None or msg.error():
        continue
    seen.add(msg.value().decode())
check(seen == {f"v{i}" for i in range(COUNT)}, f"consumed {len(seen)} of {COUNT}")
print(f"consumed {len(seen)}")
consumer.commit(asynchronous=False)
committed = consumer.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=10)
check(sum(tp.offset for tp in committed) == COUNT, f"committed {committed}")
print("committed")

groups = admin.list_consumer_groups().result(timeout=10)
check(any(g.group_id == GROUP for g in groups.valid), f"groups {groups.valid}")
described = admin.describe_consumer_groups([GROUP])[GROUP].result(timeout=10)
check(len(described.members) == 1, f"members {described.members}")
print("listed and described group")
consumer.close()
print("OK")
