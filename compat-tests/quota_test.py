#!/usr/bin/python3
"""Client quotas enforced, against a real Skein broker: quotas set and removed with
@platformatic/kafka's admin client (AlterClientQuotas), then

  - a librdkafka producer (Produce v7+, throttles itself) and a kafka-python producer
    (Produce below v6: the broker holds its answers) under producer_byte_rate stay near
    the quota, and librdkafka reports the broker's throttle time;
  - a librdkafka consumer under consumer_byte_rate stays near its quota;
  - a client with another client id runs unthrottled meanwhile;
  - once the quota is removed, the same client id runs unthrottled.

The broker runs with quota.window.num=3 and quota.window.size.seconds=1, so a client may
burst about two seconds' worth before throttling starts.

usage: quota_test.py SKEIN"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from skeinlib.broker import Broker  # noqa: E402

QUOTA = 256 * 1024  # bytes/s
RUN_S = 6
VALUE = b"q" * 1024
TOPIC = "quota-t"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok -", msg, flush=True)


def quotas(b, *args):
    out = subprocess.run(["node", os.path.join(HERE, "js", "quotas.mjs"), args[0], b.bootstrap,
                          *args[1:]], capture_output=True, timeout=60)
    j = json.loads(out.stdout.decode().strip().splitlines()[-1])
    if out.returncode != 0:
        raise AssertionError(f"quotas.mjs {args}: {j}")
    return j


def rdkafka_produce(b, client_id, seconds):
    """Produces flat out; returns (bytes/s acknowledged, largest throttle reported)."""
    throttle = [0]
    acked = [0]
    t0 = time.time()

    def on_throttle(ev):
        throttle[0] = max(throttle[0], int(ev.throttle_time * 1000))

    def on_ack(err, msg):
        if err is None and time.time() - t0 < seconds:
            acked[0] += len(msg.value())
    # Batches well under what a quota window allows (a larger one could never pass
    # a consumer quota), and a short queue so the rest can be dropped at the end.
    p = Producer({"bootstrap.servers": b.bootstrap, "client.id": client_id, "acks": 1,
                  "linger.ms": 5, "batch.size": 65536, "queue.buffering.max.messages": 2000,
                  "throttle_cb": on_throttle, "log_level": 2})
    while time.time() - t0 < seconds:
        try:
            p.produce(TOPIC, VALUE, partition=0, on_delivery=on_ack)
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.poll(0)
    p.purge(in_queue=True)
    p.flush(30)
    return acked[0] / seconds, throttle[0]


def kafka_python_produce(b, client_id, seconds):
    # api_version 1.0: Produce v5, from before clients throttled themselves (KIP-219).
    p = KafkaProducer(bootstrap_servers=b.bootstrap, client_id=client_id, acks=1,
                      linger_ms=5, api_version=(1, 0, 0))
    sent, t0 = 0, time.time()
    futures = []
    while time.time() - t0 < seconds:
        futures.append(p.send(TOPIC, VALUE, partition=0))
        if len(futures) >= 200:
            for f in futures:
                f.get(60)
                sent += len(VALUE)
            futures = []
    for f in futures:
        f.get(60)
        sent += len(VALUE)
    el = time.time() - t0
    p.close()
    return sent / el


def consume(b, client_id, seconds):
    c = Consumer({"bootstrap.servers": b.bootstrap, "client.id": client_id,
                  "group.id": "quota-" + client_id, "enable.auto.commit": False,
                  # Small fetches: a throttled fetch is answered empty, so the rate
                  # a consumer reaches depends on how finely it asks.
                  "fetch.max.bytes": 65536, "message.max.bytes": 65536,
                  "max.partition.fetch.bytes": 65536,
                  "log_level": 2})
    c.assign([TopicPartition(TOPIC, 0, 0)])
    got, t0 = 0, time.time()
    while time.time() - t0 < seconds:
        for m in c.consume(1000, 0.1):
            if m.error() is None:
                got += len(m.value())
    el = time.time() - t0
    c.close()
    return got / el


def near_quota(rate):
    # Over RUN_S seconds the allowed total is about QUOTA * (RUN_S + 2 s of burst).
    return 0.5 * QUOTA <= rate <= 1.6 * QUOTA * (RUN_S + 2) / RUN_S


def main():
    b = Broker(os.path.abspath(sys.argv[1]), ["num.partitions=1", "quota.window.num=3",
                                               "quota.window.size.seconds=1"])
    b.start()
    try:
        fast, _ = rdkafka_produce(b, "fast-producer", 3)
        check(fast > 8 * QUOTA, f"without a quota librdkafka produces {fast / 1024:.0f} KiB/s")
        quotas(b, "set", "slow-producer", "producer_byte_rate", str(QUOTA))
        quotas(b, "set", "slow-consumer", "consumer_byte_rate", str(QUOTA))
        d = quotas(b, "describe", "slow-producer")
        check(d and d[0]["values"] == [{"key": "producer_byte_rate", "value": QUOTA}],
              f"DescribeClientQuotas shows the producer quota {d}")

        rate, throttle = rdkafka_produce(b, "slow-producer", RUN_S)
        check(near_quota(rate), f"librdkafka under a {QUOTA // 1024} KiB/s producer quota: "
              f"{rate / 1024:.0f} KiB/s")
        check(throttle > 0, f"librdkafka was told to back off (throttle time up to {throttle} ms)")
        other, _ = rdkafka_produce(b, "other-producer", 2)
        check(other > 8 * QUOTA, f"another client id meanwhile: {other / 1024:.0f} KiB/s")
        quotas(b, "set", "slow-producer-kp", "producer_byte_rate", str(QUOTA))
        rate = kafka_python_produce(b, "slow-producer-kp", RUN_S)
        check(near_quota(rate), f"kafka-python (answers held back) under the quota: "
              f"{rate / 1024:.0f} KiB/s")

        rate = consume(b, "slow-consumer", RUN_S)
        check(near_quota(rate), f"librdkafka consumer under a {QUOTA // 1024} KiB/s consumer "
              f"quota: {rate / 1024:.0f} KiB/s")
        rate = consume(b, "fast-consumer", 2)
        check(rate > 8 * QUOTA, f"another consumer meanwhile: {rate / 1024:.0f} KiB/s")

        quotas(b, "remove", "slow-producer", "producer_byte_rate")
        rate, _ = rdkafka_produce(b, "slow-producer", 2)
        check(rate > 8 * QUOTA, f"quota removed: the same client id produces "
              f"{rate / 1024:.0f} KiB/s")
        check(b.stop() == 0, "broker exited 0 on SIGTERM")
    finally:
        b.cleanup()
    print("all quota tests passed")


if __name__ == "__main__":
    main()
