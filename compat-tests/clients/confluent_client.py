"""confluent-kafka-python (librdkafka underneath) scenarios."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from skeinlib import records  # noqa: E402
from skeinlib.scenario import Fail, main  # noqa: E402

CLIENT = "confluent"


def base(ctx):
    return {"bootstrap.servers": ctx.bootstrap, "client.id": "skein-compat",
            "broker.address.family": "v4"}


def metadata(ctx):
    ctx.step("AdminClient.list_topics")
    a = AdminClient(base(ctx))
    md = a.list_topics(timeout=10)
    ctx.eq("cluster_id", ctx.expect["cluster_id"], md.cluster_id)
    ctx.eq("controller_id", ctx.expect["controller_id"], md.controller_id)
    got = sorted((b.id, b.host, b.port) for b in md.brokers.values())
    ctx.eq("brokers", [(ctx.expect["node_id"], ctx.expect["host"], ctx.expect["port"])], got)
    ctx.eq("orig_broker_id", ctx.expect["node_id"], md.orig_broker_id)
    ctx.step("list_topics(topic) auto-create")
    name = "confluent-auto"
    p = Producer(dict(base(ctx)))
    deadline = time.monotonic() + 10
    t = None
    while time.monotonic() < deadline:
        t = p.list_topics(topic=name, timeout=10).topics.get(name)
        if t is not None and t.error is None and t.partitions:
            break
        time.sleep(0.2)
    ctx.check(t is not None and t.error is None, "metadata of auto-created " + name,
              "no error", t and t.error)
    ctx.eq("partitions of " + name, [0], sorted(t.partitions))
    ctx.eq("leader of %s/0" % name, ctx.expect["node_id"], t.partitions[0].leader)
    ctx.step("list_topics after auto-create")
    ctx.check(name in a.list_topics(timeout=10).topics, "all topics", "contains " + name, None)


def create(ctx, a, name, partitions):
    fs = a.create_topics([NewTopic(name, partitions, 1)], request_timeout=15)
    fs[name].result(20)


def create_topic(ctx):
    a = AdminClient(base(ctx))
    name = "confluent-created"
    ctx.step("create_topics %s partitions=3" % name)
    create(ctx, a, name, 3)
    ctx.step("list_topics %s" % name)
    t = a.list_topics(topic=name, timeout=10).topics[name]
    ctx.eq("error of " + name, None, t.error)
    ctx.eq("partitions of " + name, [0, 1, 2], sorted(t.partitions))
    ctx.eq("leaders", [ctx.expect["node_id"]] * 3, [t.partitions[i].leader for i in range(3)])
    ctx.step("create_topics %s again" % name)
    try:
        create(ctx, a, name, 3)
    except Exception as e:
        err = e.args[0] if e.args else None
        ctx.check(isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS,
                  "second create", "TOPIC_ALREADY_EXISTS", e)
    else:
        raise Fail("creating %s twice: expected TOPIC_ALREADY_EXISTS, got success" % name)


def produce(ctx):
    a = AdminClient(base(ctx)) if ctx.has(19) else None
    for codec in records.CODECS:
        for acks in records.ACKS:
            t = records.topic(CLIENT, codec, acks)
            if a:
                ctx.step("create_topics " + t)
                create(ctx, a, t, 1)
            ctx.step("produce %d records to %s" % (records.N, t))
            conf = dict(base(ctx))
            conf.update({"acks": "1" if acks == "1" else "all", "compression.codec": codec,
                         "linger.ms": 5, "max.in.flight.requests.per.connection": 1,
                         "message.send.max.retries": 0})
            p = Producer(conf)
            reports = {}

            def dr(err, msg, i):
                reports[i] = (err, msg.offset() if err is None else None)
            for i in range(records.N):
                while True:
                    try:
                        p.produce(t, partition=0, key=records.key(i), value=records.value(i, t),
                                  headers=records.headers(i) or None,
                                  on_delivery=lambda err, msg, i=i: dr(err, msg, i))
                        break
                    except BufferError:
                        p.poll(0.1)
                p.poll(0)
            left = p.flush(60)
            if left:
                raise Fail("%d records to %s still undelivered after 60 s" % (left, t))
            for i in range(records.N):
                err, off = reports.get(i, ("no delivery report", None))
                if err is not None:
                    raise Fail("record %d of %s: delivery failed: %s" % (i, t, err))
                if off != i:
                    raise Fail("record %d of %s acknowledged at offset %s, expected %d"
                               % (i, t, off, i))


def consume(ctx):
    for codec in records.CODECS:
        for acks in records.ACKS:
            t = records.topic(CLIENT, codec, acks)
            ctx.step("consume %s from the beginning" % t)
            conf = dict(base(ctx))
            conf.update({"group.id": "skein-compat-unused", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "auto.offset.reset": "earliest"})
            c = Consumer(conf)
            try:
                c.assign([TopicPartition(t, 0, 0)])
                got = []
                deadline = time.monotonic() + 60
                while len(got) < records.N and time.monotonic() < deadline:
                    for m in c.consume(num_messages=5000, timeout=1.0):
                        if m.error():
                            if m.error().code() == KafkaError._PARTITION_EOF:
                                continue
                            raise Fail("consume error on %s: %s" % (t, m.error()))
                        got.append((m.offset(), m.key(), m.value(),
                                    [(k, v if v is not None else b"")
                                     for k, v in (m.headers() or [])]))
                err = records.compare(got, t)
                if err:
                    raise Fail("%s: %s" % (t, err))
            finally:
                c.close()


if __name__ == "__main__":
    sys.exit(main({"metadata": metadata, "create-topic": create_topic,
                   "produce": produce, "consume": consume}))
