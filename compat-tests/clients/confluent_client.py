"""confluent-kafka-python (librdkafka underneath) scenarios."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from confluent_kafka import (Consumer, KafkaError, Producer, TopicPartition,  # noqa: E402
                             libversion)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from skeinlib import records  # noqa: E402
from skeinlib.scenario import Fail, expected_librdkafka, main, row  # noqa: E402

CLIENT = "confluent"


def check_librdkafka(ctx):
    # confluent_kafka loads librdkafka.so.1 at import: LD_LIBRARY_PATH picks which.
    want = expected_librdkafka()
    if want:
        ctx.step("librdkafka version")
        ctx.eq("confluent_kafka.libversion()", want, libversion()[0])


def check_orig_broker(ctx, a, md):
    """From librdkafka 2.10 on (its #4557: brokers are known by id only) the bootstrap
    connection stays a handle of its own, id -1, and a request made before the learned
    broker is up goes through it: orig_broker_id is then -1 from any broker, Kafka's
    too. The id the broker gives itself is checked on the first answer that comes
    through a learned handle, which librdkafka prefers once one is up."""
    if md.orig_broker_id != -1 or libversion()[1] < 0x020a0000:
        ctx.check_broker_id("orig_broker_id", md.orig_broker_id)
        return
    ctx.check(md.orig_broker_name.endswith("/bootstrap"), "orig_broker_id -1 from",
              "the bootstrap connection", md.orig_broker_name)
    ctx.step("AdminClient.list_topics through the learned broker")
    deadline = time.monotonic() + 30
    while md.orig_broker_id == -1 and time.monotonic() < deadline:
        time.sleep(0.1)
        md = a.list_topics(timeout=10)
    ctx.check_broker_id("orig_broker_id through the learned broker", md.orig_broker_id)


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
    ctx.eq("brokers", ctx.brokers(), got)
    check_orig_broker(ctx, a, md)
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
    ctx.check_broker_id("leader of %s/0" % name, t.partitions[0].leader)
    ctx.step("list_topics after auto-create")
    ctx.check(name in a.list_topics(timeout=10).topics, "all topics", "contains " + name, None)


def create(ctx, a, name, partitions):
    fs = a.create_topics([NewTopic(name, partitions, ctx.rf)], request_timeout=15)
    fs[name].result(20)
    ctx.wait_topic(name, partitions)


def create_topic(ctx):
    a = AdminClient(base(ctx))
    name = "confluent-created"
    ctx.step("create_topics %s partitions=3" % name)
    create(ctx, a, name, 3)
    ctx.step("list_topics %s" % name)
    # In a cluster the node asked may not have applied the new topic yet (as with
    # Kafka, metadata reaches the brokers after CreateTopics is answered).
    deadline = time.monotonic() + 15
    while True:
        t = a.list_topics(topic=name, timeout=10).topics[name]
        if (t.error is None and len(t.partitions) == 3) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ctx.eq("error of " + name, None, t.error and str(t.error))
    ctx.eq("partitions of " + name, [0, 1, 2], sorted(t.partitions))
    ctx.check_leaders("leaders", [t.partitions[i].leader for i in range(3)])
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


def admin(ctx):
    return AdminClient(base(ctx))


def new_topic(ctx, name, partitions=1, config=None):
    a = admin(ctx)
    fs = a.create_topics([NewTopic(name, partitions, ctx.rf, config=config or {})],
                         request_timeout=15)
    fs[name].result(20)
    ctx.wait_topic(name, partitions)
    return a


def produce_acked(ctx, p, topic, items):
    """items: (partition, key, value, headers, timestamp); returns offsets, raising on
    any failed delivery."""
    offs = [None] * len(items)
    errs = []

    def dr(err, msg, i):
        if err is not None:
            errs.append((i, err))
        else:
            offs[i] = (msg.partition(), msg.offset())
    for i, (part, k, v, h, ts) in enumerate(items):
        kw = {"timestamp": ts} if ts else {}
        while True:
            try:
                p.produce(topic, partition=part, key=k, value=v, headers=h or None,
                          on_delivery=lambda err, msg, i=i: dr(err, msg, i), **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    if left:
        raise Fail("%d records to %s still undelivered after 60 s" % (left, topic))
    if errs:
        raise Fail("record %d to %s: delivery failed: %s" % (errs[0][0], topic, errs[0][1]))
    return offs


def consumer(ctx, **extra):
    conf = dict(base(ctx))
    conf.update({"group.id": "skein-compat-unused", "enable.auto.commit": False,
                 "enable.auto.offset.store": False, "auto.offset.reset": "earliest"})
    conf.update(extra)
    return Consumer(conf)


def consume_n(c, n, what, timeout=60):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for m in c.consume(num_messages=5000, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise Fail("consume error on %s: %s" % (what, m.error()))
            got.append(m)
    return got


def hdrs(m):
    return [(k, v if v is not None else b"") for k, v in (m.headers() or [])]


def idempotent(ctx):
    t = "confluent-idempotent"
    ctx.step("create_topics " + t)
    new_topic(ctx, t)
    ctx.step("produce %d records with enable.idempotence" % records.N)
    conf = dict(base(ctx))
    conf.update({"enable.idempotence": True, "linger.ms": 5})
    offs = produce_acked(ctx, Producer(conf), t,
                         [(0, records.key(i), records.value(i, t), records.headers(i), 0)
                          for i in range(records.N)])
    ctx.eq("acknowledged offsets", list(range(records.N)), [o[1] for o in offs])
    ctx.step("consume " + t)
    c = consumer(ctx)
    c.assign([TopicPartition(t, 0, 0)])
    got = consume_n(c, records.N, t)
    c.close()
    err = records.compare([(m.offset(), m.key(), m.value(), hdrs(m)) for m in got], t)
    if err:
        raise Fail(err)


def group(ctx):
    t, g = "confluent-group", "confluent-group-g"
    P, N1, N2 = records.GROUP_PARTITIONS, records.GROUP_FIRST, records.GROUP_SECOND
    ctx.step("create_topics %s partitions=%d" % (t, P))
    new_topic(ctx, t, P)
    ctx.step("produce %d records" % N1)
    prod = Producer(dict(base(ctx)))
    produce_acked(ctx, prod, t, [(i % P, None, b"g%d" % i, None, 0) for i in range(N1)])

    def member(n):
        c = consumer(ctx, **{"group.id": g, "session.timeout.ms": 10000,
                             "heartbeat.interval.ms": 500, "client.id": "m%d" % n})
        c.subscribe([t])
        return c
    seen = {}

    def poll_all(cs, until, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in cs:
                ms = [m for m in c.consume(num_messages=500, timeout=0.2) if not m.error()]
                for m in ms:
                    seen.setdefault(int(m.value()[1:]), []).append(c)
                if ms:
                    last = {}
                    for m in ms:
                        last[m.partition()] = m.offset() + 1
                    c.commit(offsets=[TopicPartition(t, q, o) for q, o in last.items()],
                             asynchronous=False)
            if until():
                return
        raise Fail("%s: not reached in %ss (seen %d distinct records, assignments %r)"
                   % (what, timeout, len(seen), [len(c.assignment()) for c in cs]))
    ctx.step("one member takes all %d partitions" % P)
    c1 = member(1)
    poll_all([c1], lambda: len(c1.assignment()) == P and seen, 30, "first member")
    ctx.step("two more members join: rebalance to 2 partitions each")
    cs = [c1, member(2), member(3)]
    poll_all(cs, lambda: sorted(len(c.assignment()) for c in cs) == [2, 2, 2]
             and len(seen) == N1, 60, "rebalance")
    ctx.check(all(k in seen for k in range(N1)), "records consumed by the group", N1, len(seen))
    ctx.step("close the members (commits are synchronous)")
    for c in cs:
        c.close()
    ctx.step("produce %d more, restart three members: they resume at the commits" % N2)
    produce_acked(ctx, prod, t, [(i % P, None, b"g%d" % i, None, 0) for i in range(N1, N1 + N2)])
    seen.clear()
    cs = [member(n) for n in (4, 5, 6)]
    poll_all(cs, lambda: len(seen) >= N2, 60, "resume")
    time.sleep(1)
    poll_all(cs, lambda: True, 5, "drain")
    for c in cs:
        c.close()
    ctx.eq("records after the restart", list(range(N1, N1 + N2)), sorted(seen))
    dup = [k for k, v in seen.items() if len(v) > 1]
    ctx.eq("records delivered twice after the restart", [], dup)


def offsets(ctx):
    t = "confluent-times"
    n, step = records.TIMES_N, records.TIMES_STEP
    ctx.step("produce %d records with timestamps" % n)
    new_topic(ctx, t)
    produce_acked(ctx, Producer(dict(base(ctx))), t,
                  [(0, records.key(i), records.value(i, t), records.headers(i),
                    records.BASE_TS + i * step) for i in range(n)])
    c = consumer(ctx)
    ctx.step("offsets_for_times")
    for i in (0, n // 2, n - 1):
        r = c.offsets_for_times([TopicPartition(t, 0, records.BASE_TS + i * step)], 10)
        ctx.eq("offset for timestamp of record %d" % i, i, r[0].offset)
    r = c.offsets_for_times([TopicPartition(t, 0, records.BASE_TS + n * step)], 10)
    ctx.eq("offset for a timestamp after the last", -1, r[0].offset)
    ctx.step("get_watermark_offsets")
    ctx.eq("watermarks", (0, n), c.get_watermark_offsets(TopicPartition(t, 0), 10))
    ctx.step("assign at the middle, consume to the end")
    mid = c.offsets_for_times([TopicPartition(t, 0, records.BASE_TS + n // 2 * step)], 10)
    c.assign(mid)
    got = consume_n(c, n - n // 2, t)
    ctx.eq("offsets from the middle", list(range(n // 2, n)), [m.offset() for m in got])
    ctx.eq("timestamps from the middle", [(1, records.BASE_TS + i * step)
                                           for i in range(n // 2, n)],
           [m.timestamp() for m in got])
    ctx.step("seek back to 100")
    c.seek(TopicPartition(t, 0, 100))
    got = consume_n(c, 10, t)
    ctx.eq("offsets after seek", list(range(100, 110)), [m.offset() for m in got[:10]])
    ctx.eq("value after seek", records.value(100, t), got[0].value())
    c.close()


def admin_scenario(ctx):
    from confluent_kafka.admin import ConfigResource, NewPartitions
    t = "confluent-admin"
    ctx.step("create_topics " + t)
    a = new_topic(ctx, t, 1, {"retention.ms": "86400000"})
    res = ConfigResource("topic", t)
    ctx.step("describe_configs")
    cfg = a.describe_configs([res])[res].result(15)
    ctx.eq("retention.ms", "86400000", cfg["retention.ms"].value)
    ctx.eq("cleanup.policy", "delete", cfg["cleanup.policy"].value)
    ctx.check(not cfg["cleanup.policy"].is_default or True, "cleanup.policy", "", "")
    ctx.step("alter_configs retention.ms, segment.bytes")
    res = ConfigResource("topic", t, set_config={"retention.ms": "123456789",
                                                  "segment.bytes": "10485760"})
    a.alter_configs([res])[res].result(15)
    cfg = a.describe_configs([ConfigResource("topic", t)])
    cfg = list(cfg.values())[0].result(15)
    ctx.eq("retention.ms after alter", "123456789", cfg["retention.ms"].value)
    ctx.eq("segment.bytes after alter", "10485760", cfg["segment.bytes"].value)
    ctx.step("describe_configs broker 1")
    b = ConfigResource("broker", "1")
    bc = a.describe_configs([b])[b].result(15)
    ctx.check("log.retention.hours" in bc or "log.retention.ms" in bc, "broker configs",
              "log.retention.*", sorted(bc)[:10])
    ctx.step("create_partitions to 3")
    a.create_partitions([NewPartitions(t, 3)])[t].result(15)
    ctx.wait_topic(t, 3)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        md = a.list_topics(topic=t, timeout=10).topics[t]
        if len(md.partitions) == 3:
            break
        time.sleep(0.2)
    ctx.eq("partitions after create_partitions", [0, 1, 2], sorted(md.partitions))
    ctx.step("produce to the new partition 2")
    offs = produce_acked(ctx, Producer(dict(base(ctx))), t,
                         [(2, None, b"p2-%d" % i, None, 0) for i in range(10)])
    ctx.eq("offsets in partition 2", [(2, i) for i in range(10)], offs)
    ctx.step("delete_topics " + t)
    a.delete_topics([t], request_timeout=15)[t].result(20)
    ctx.wait_topic_gone(t)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if t not in a.list_topics(timeout=10).topics:
            break
        time.sleep(0.2)
    ctx.check(t not in a.list_topics(timeout=10).topics, "topics after delete",
              "no " + t, t)
    ctx.note("delete records: confluent-kafka-python 1.7 has no delete_records")


def large(ctx):
    t = "confluent-large"
    ctx.step("create_topics %s max.message.bytes=%d" % (t, records.TOPIC_MAX_MESSAGE))
    new_topic(ctx, t, 1, {"max.message.bytes": str(records.TOPIC_MAX_MESSAGE)})
    conf = dict(base(ctx))
    conf.update({"message.max.bytes": 4 << 20, "linger.ms": 0,
                 "message.send.max.retries": 0})
    p = Producer(conf)
    big = bytes(range(256)) * (records.LARGE // 256)
    ctx.step("produce a %d-byte record" % len(big))
    offs = produce_acked(ctx, p, t, [(0, b"big", big, [("h", b"1")], 0)])
    ctx.eq("offset of the large record", [(0, 0)], offs)
    ctx.step("consume the large record")
    c = consumer(ctx, **{"fetch.max.bytes": 4 << 20, "max.partition.fetch.bytes": 4 << 20,
                         "receive.message.max.bytes": 8 << 20})
    c.assign([TopicPartition(t, 0, 0)])
    got = consume_n(c, 1, t)
    c.close()
    ctx.check(len(got) == 1 and got[0].value() == big and got[0].key() == b"big",
              "large record", "the same %d bytes" % len(big),
              [len(m.value()) for m in got])
    ctx.step("produce a %d-byte record over the topic's limit" % records.TOO_LARGE)
    try:
        produce_acked(ctx, p, t, [(0, None, b"x" * records.TOO_LARGE, None, 0)])
    except Fail as e:
        ctx.check("MSG_SIZE_TOO_LARGE" in str(e) or "too large" in str(e).lower(),
                  "delivery error", "MSG_SIZE_TOO_LARGE", str(e))
    else:
        raise Fail("a %d-byte record to a topic with max.message.bytes=%d was accepted"
                   % (records.TOO_LARGE, records.TOPIC_MAX_MESSAGE))
    ctx.step("the topic still works")
    offs = produce_acked(ctx, p, t, [(0, None, b"small", None, 0)])
    ctx.eq("offset after the rejected record", [(0, 1)], offs)


def restart(ctx, name):
    t = "confluent-" + name
    ctx.step("create_topics " + t)
    new_topic(ctx, t)
    conf = dict(base(ctx))
    conf.update({"acks": "all", "linger.ms": 2, "message.timeout.ms": 60000,
                 "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})
    p = Producer(conf)
    c = consumer(ctx, **{"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})
    c.assign([TopicPartition(t, 0, 0)])
    acked, consumed = {}, {}

    def dr(err, msg):
        if err is None:
            acked[msg.offset()] = msg.value()
    restarted = None
    after = None
    i = 0
    ctx.step("produce and consume in a loop; the broker restarts in the middle")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if records.restart_wants_more(len(acked), after):
            try:
                p.produce(t, partition=0, value=b"r%d" % i, on_delivery=dr)
                i += 1
            except BufferError:
                pass
        p.poll(0)
        for m in c.consume(num_messages=100, timeout=0.01):
            if not m.error():
                consumed[m.offset()] = m.value()
        if restarted is None and len(acked) >= records.RESTART_ACKS:
            restarted = ctx.request_restart()
        if restarted is not None and restarted.is_set() and after is None:
            ctx.step("broker back; keep going")
            after = len(acked)
        if after is not None and len(acked) >= after + records.RESTART_ACKS \
                and all(o in consumed for o in acked):
            break
        time.sleep(0.002)
    p.flush(30)
    ctx.check(after is not None, "broker restart", "done", "not done")
    ctx.check(len(acked) >= after + records.RESTART_ACKS, "acknowledged after the restart",
              ">= %d" % records.RESTART_ACKS, len(acked) - after)
    missing = [o for o in sorted(acked) if consumed.get(o) != acked[o]]
    ctx.eq("acknowledged records the consumer did not get back (first 5)", [], missing[:5])
    c.close()


def xc_produce(ctx):
    t = records.xc_topic(row("confluent-kafka-python"))
    new_topic(ctx, t)
    ctx.step("produce %d records to %s" % (records.XC_N, t))
    produce_acked(ctx, Producer(dict(base(ctx))), t,
                  [(0, records.key(i), records.value(i, t), records.headers(i),
                    records.timestamp(i)) for i in range(records.XC_N)])


def xc_consume(ctx):
    with open(ctx.out, "w") as f:
        for t in ctx.topics:
            ctx.step("consume " + t)
            c = consumer(ctx)
            c.assign([TopicPartition(t, 0, 0)])
            for m in consume_n(c, records.XC_N, t):
                f.write(json.dumps(records.observation(t, m.offset(), m.key(), m.value(),
                                                       hdrs(m), m.timestamp()[1])) + "\n")
            c.close()


if __name__ == "__main__":
    sys.exit(main({"metadata": metadata, "create-topic": create_topic,
                   "produce": produce, "consume": consume, "idempotent": idempotent,
                   "group": group, "offsets": offsets, "admin": admin_scenario,
                   "large": large, "restart-term": lambda ctx: restart(ctx, "restart-term"),
                   "restart-kill": lambda ctx: restart(ctx, "restart-kill"),
                   "xc-produce": xc_produce, "xc-consume": xc_consume},
                  preflight=check_librdkafka))
