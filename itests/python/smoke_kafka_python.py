"""Smoke test with kafka-python (pure Python): create a topic, produce, consume in a group,
commit, read the committed offsets back, list groups.

Usage: smoke_kafka_python.py BOOTSTRAP. Prints one line per step; exits non-zero on failure.
"""
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = sys.argv[2] if len(sys.argv) > 2 else "py-kafka-python"
GROUP = TOPIC + "-group"
COUNT = 300


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1)])
print("created topic")

producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
futures = [producer.send(TOPIC, key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(COUNT)]
producer.flush(15)
offsets = [f.get(timeout=10) for f in futures]
check(len(offsets) == COUNT, "not all acknowledged")
print(f"produced {COUNT}")

consumer = KafkaConsumer(
    TOPIC,
    bootstrap_servers=BOOTSTRAP,
    group_id=GROUP,
    auto_offset_reset="earliest",
    enable_auto_commit=False,
    consumer_timeout_ms=20000,
)
seen = set()
for msg in consumer:
    seen.add(msg.value.decode())
    if len(seen) == COUNT:
        break
check(seen == {f"v{i}" for i in range(COUNT)}, f"consumed {len(seen)} of {COUNT}")
print(f"consumed {len(seen)}")
consumer.commit()
committed = [consumer.committed(TopicPartition(TOPIC, p)) for p in range(3)]
check(sum(committed) == COUNT, f"committed {committed}")
print("committed")

groups = admin.list_groups()
names = [g["group_id"] if isinstance(g, dict) else g[0] for g in groups]
check(GROUP in names, f"groups {groups}")
offsets = admin.list_group_offsets({GROUP: None})
per_group = offsets.get(GROUP, offsets) if isinstance(offsets, dict) else offsets
total = sum((o.offset if hasattr(o, "offset") else o) for o in per_group.values())
check(total == COUNT, f"group offsets {offsets}")
described = admin.describe_groups([GROUP])
print(f"listed group and its offsets; described: {described}")
consumer.close()
print("OK")
