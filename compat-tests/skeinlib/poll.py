"""Small helpers the scenario scripts share."""
import time


def wait_for(cond, timeout, step=0.1):
    """Polls cond until it is true or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def produce_small(bootstrap, topic, n):
    """n records of about 200 bytes with librdkafka, flushed every ten, so a
    topic gets many small batches."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 10})
    for i in range(n):
        p.produce(topic, value=b"x" * 200 + b"%d" % i)
        if i % 10 == 9:
            p.flush()
    assert p.flush(10) == 0
