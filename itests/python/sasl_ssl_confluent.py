"""confluent-kafka (its own librdkafka) over SASL_SSL with SCRAM-SHA-512: produce, then consume
in a group and commit, with the client configuration an application uses in production.

Usage: sasl_ssl_confluent.py BOOTSTRAP CA_FILE USER PASSWORD. Prints OK at the end.
"""
import sys

from confluent_kafka import Consumer, Producer

BOOTSTRAP, CA, USER, PASSWORD = sys.argv[1:5]
TOPIC = "py-sasl-ssl"
COUNT = 50
SECURE = {
    "bootstrap.servers": BOOTSTRAP,
    "security.protocol": "SASL_SSL",
    "ssl.ca.location": CA,
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": USER,
    "sasl.password": PASSWORD,
}

producer = Producer({**SECURE, "enable.idempotence": True})
errors = []
for i in range(COUNT):
    producer.produce(TOPIC, key=f"k{i}", value=f"v{i}", on_delivery=lambda e, m: errors.append(e))
if producer.flush(30) != 0 or len(errors) != COUNT or any(errors):
    raise SystemExit(f"FAILED: produce: {errors[:3]}")
print(f"produced {COUNT}")

consumer = Consumer({**SECURE, "group.id": "py-sasl-ssl", "auto.offset.reset": "earliest"})
consumer.subscribe([TOPIC])
seen = []
for _ in range(300):
    m = consumer.poll(0.2)
    if m is None:
        continue
    if m.error():
        raise SystemExit(f"FAILED: consume: {m.error()}")
    seen.append(m.value().decode())
    if len(seen) == COUNT:
        break
if seen != [f"v{i}" for i in range(COUNT)]:
    raise SystemExit(f"FAILED: consumed {len(seen)}: {seen[:3]}")
consumer.commit(asynchronous=False)
consumer.close()
print(f"consumed {COUNT} and committed")

wrong = Producer({**SECURE, "sasl.password": "wrong", "message.timeout.ms": 5000})
failures = []
wrong.produce(TOPIC, value="x", on_delivery=lambda e, m: failures.append(e))
wrong.flush(10)
if not failures or failures[0] is None:
    raise SystemExit("FAILED: a wrong password was accepted")
print("wrong password refused")
print("OK")
