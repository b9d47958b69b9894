#!/usr/bin/python3
"""One consumer-group member for group_test.py, on librdkafka
(confluent-kafka) or kafka-python.

usage: group_member.py confluent|kafka-python BOOTSTRAP GROUP TOPIC INSTANCE|- SESSION_MS

Prints one JSON line per event on stdout: {"ev": "assigned", "parts": [...]} after
every assignment change, {"ev": "rec", "p": P, "o": O} per record processed, and
{"ev": "closed"} after a clean close. Offsets are committed synchronously after each
processed batch. SIGTERM closes the consumer, which leaves the group."""
import json
import signal
import sys
import time

LIB, BOOTSTRAP, GROUP, TOPIC, INSTANCE, SESSION_MS = sys.argv[1:7]
SESSION_MS = int(SESSION_MS)
stopping = False


def emit(ev, **kw):
    kw.update(ev=ev, t=time.time())
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def on_term(*_):
    global stopping
    stopping = True


def run_confluent():
    from confluent_kafka import Consumer, KafkaException
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": GROUP,
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range", "log_level": 2}
    if INSTANCE != "-":
        conf["group.instance.id"] = INSTANCE
    c = Consumer(conf)
    c.subscribe([TOPIC],
                on_assign=lambda _, ps: emit("assigned", parts=sorted(p.partition for p in ps)),
                on_revoke=lambda _, ps: emit("assigned", parts=[]))
    while not stopping:
        msgs = c.consume(num_messages=200, timeout=0.2)
        for m in msgs:
            if m.error() is None:
                emit("rec", p=m.partition(), o=m.offset())
        if any(m.error() is None for m in msgs):
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                emit("commit-failed", msg=str(e))
    c.close()


def run_kafka_python():
    from kafka import KafkaConsumer, ConsumerRebalanceListener
    from kafka.errors import CommitFailedError, KafkaError

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit("assigned", parts=[])

        def on_partitions_assigned(self, assigned):
            emit("assigned", parts=sorted(p.partition for p in assigned))
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=GROUP, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=SESSION_MS,
                      heartbeat_interval_ms=500, max_poll_interval_ms=60000)
    c.subscribe([TOPIC], listener=Listener())
    while not stopping:
        batch = c.poll(timeout_ms=200)
        for msgs in batch.values():
            for m in msgs:
                emit("rec", p=m.partition, o=m.offset)
        if batch:
            try:
                c.commit()
            except (CommitFailedError, KafkaError) as e:
                emit("commit-failed", msg=str(e))
    c.close()


def main():
    signal.signal(signal.SIGTERM, on_term)
    if INSTANCE != "-" and LIB != "confluent":
        emit("error", msg="static membership is not in kafka-python 2.0.2")
        sys.exit(2)
    (run_confluent if LIB == "confluent" else run_kafka_python)()
    emit("closed")


if __name__ == "__main__":
    main()
