"""kafka-python (pure Python, its own protocol code and version probing) scenarios."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka import codec as kcodec  # noqa: E402
from kafka.errors import TopicAlreadyExistsError  # noqa: E402

from skeinlib import records  # noqa: E402
from skeinlib.scenario import Fail, Skip, main  # noqa: E402

CLIENT = "kafka-python"
COMPRESSION = {"none": None, "gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstd"}
CODEC_MODULE = {"snappy": ("python-snappy", kcodec.has_snappy),
                "lz4": ("lz4", kcodec.has_lz4), "zstd": ("zstandard", kcodec.has_zstd)}


def check_brokers(ctx, what, brokers):
    """brokers: list of (node_id, host, port)."""
    ctx.eq(what, ctx.brokers(), sorted(brokers))


def metadata(ctx):
    ctx.step("KafkaAdminClient connect")
    admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="skein-compat",
                             request_timeout_ms=10000)
    try:
        ctx.step("describe_cluster")
        d = admin.describe_cluster()
        ctx.eq("describe_cluster cluster_id", ctx.expect["cluster_id"], d.get("cluster_id"))
        ctx.eq("describe_cluster controller_id", ctx.expect["controller_id"],
               d.get("controller_id"))
        check_brokers(ctx, "describe_cluster brokers",
                      [(b["node_id"], b["host"], b["port"]) for b in d["brokers"]])
        ctx.step("list_topics")
        topics = admin.list_topics()
        ctx.check(isinstance(topics, list), "list_topics", "a list", topics)
    finally:
        admin.close()
    ctx.step("KafkaConsumer.topics")
    c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="skein-compat",
                      request_timeout_ms=11000, api_version_auto_timeout_ms=10000)
    try:
        topics = c.topics()
        ctx.check(isinstance(topics, set), "KafkaConsumer.topics()", "a set", topics)
        ctx.step("KafkaConsumer.partitions_for_topic (auto-create)")
        name = "kafka-python-auto"
        parts = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            parts = c.partitions_for_topic(name)
            if parts:
                break
            c._client.add_topic(name)
            c._client.poll(future=c._client.cluster.request_update())
            time.sleep(0.2)
        ctx.eq("partitions of auto-created %s" % name, {0}, parts)
        ctx.check(name in c.topics(), "topics() after auto-create", "contains " + name,
                  c.topics())
    finally:
        c.close()


def create_topic(ctx, admin, name, partitions):
    admin.create_topics([NewTopic(name, partitions, ctx.rf)], timeout_ms=10000)
    ctx.wait_topic(name, partitions)


def create_topic_scenario(ctx):
    admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="skein-compat")
    try:
        name = "kafka-python-created"
        ctx.step("create_topics %s partitions=3" % name)
        create_topic(ctx, admin, name, 3)
        ctx.step("describe_topics %s" % name)
        t = admin.describe_topics([name])[0]
        ctx.eq("error_code of %s" % name, 0, t["error_code"])
        ctx.eq("partitions of %s" % name, [0, 1, 2],
               sorted(p["partition"] for p in t["partitions"]))
        ctx.check_leaders("leaders of %s" % name, [p["leader"] for p in t["partitions"]])
        ctx.step("create_topics %s again" % name)
        try:
            create_topic(ctx, admin, name, 3)
        except TopicAlreadyExistsError:
            pass
        else:
            raise Fail("creating %s twice: expected TopicAlreadyExistsError, got success" % name)
    finally:
        admin.close()


def produce(ctx):
    skipped = []
    admin = None
    if ctx.has(19):
        admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="skein-compat")
    try:
        for codec in records.CODECS:
            if codec in CODEC_MODULE and not CODEC_MODULE[codec][1]():
                skipped.append("%s (Python module %s missing)" % (codec, CODEC_MODULE[codec][0]))
                continue
            for acks in records.ACKS:
                t = records.topic(CLIENT, codec, acks)
                if admin:
                    ctx.step("create_topics %s" % t)
                    create_topic(ctx, admin, t, 1)
                ctx.step("produce %d records to %s" % (records.N, t))
                p = KafkaProducer(bootstrap_servers=ctx.bootstrap, client_id="skein-compat",
                                  acks=1 if acks == "1" else "all",
                                  compression_type=COMPRESSION[codec], linger_ms=5,
                                  max_in_flight_requests_per_connection=1, retries=0)
                try:
                    futs = [p.send(t, partition=0, key=records.key(i),
                                   value=records.value(i, t), headers=records.headers(i))
                            for i in range(records.N)]
                    p.flush(60)
                    for i, f in enumerate(futs):
                        md = f.get(timeout=30)
                        if md.offset != i:
                            raise Fail("record %d of %s acknowledged at offset %d, expected %d"
                                       % (i, t, md.offset, i))
                finally:
                    p.close(10)
    finally:
        if admin:
            admin.close()
    if skipped:
        ctx.note("codecs skipped: " + ", ".join(skipped))
        if len(skipped) == len(records.CODECS):
            raise Skip("no codec available")


def consume(ctx):
    done = 0
    for codec in records.CODECS:
        if codec in CODEC_MODULE and not CODEC_MODULE[codec][1]():
            continue
        for acks in records.ACKS:
            t = records.topic(CLIENT, codec, acks)
            ctx.step("consume %s from the beginning" % t)
            c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="skein-compat",
                              group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest", consumer_timeout_ms=10000)
            try:
                tp = TopicPartition(t, 0)
                c.assign([tp])
                c.seek_to_beginning(tp)
                got = []
                deadline = time.monotonic() + 60
                while len(got) < records.N and time.monotonic() < deadline:
                    for msgs in c.poll(timeout_ms=1000, max_records=5000).values():
                        for m in msgs:
                            got.append((m.offset, m.key, m.value,
                                        [(k, v) for k, v in m.headers]))
                err = records.compare(got, t)
                if err:
                    raise Fail("%s: %s" % (t, err))
                done += 1
            finally:
                c.close()
    if not done:
        raise Skip("no codec available")


def admin_client(ctx):
    return KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="skein-compat",
                            request_timeout_ms=15000)


def new_topic(ctx, name, partitions=1, config=None):
    a = admin_client(ctx)
    try:
        a.create_topics([NewTopic(name, partitions, ctx.rf, topic_configs=config or {})],
                        timeout_ms=10000)
    finally:
        a.close()
    ctx.wait_topic(name, partitions)


def producer(ctx, **kw):
    conf = {"bootstrap_servers": ctx.bootstrap, "client_id": "skein-compat", "linger_ms": 5}
    conf.update(kw)
    return KafkaProducer(**conf)


def send_all(p, t, items):
    futs = [p.send(t, partition=part, key=k, value=v, headers=h or [], timestamp_ms=ts)
            for part, k, v, h, ts in items]
    p.flush(60)
    return [(f.get(timeout=30).partition, f.get(timeout=30).offset) for f in futs]


def assigned(ctx, t, part=0, **kw):
    conf = {"bootstrap_servers": ctx.bootstrap, "client_id": "skein-compat", "group_id": None,
            "enable_auto_commit": False, "auto_offset_reset": "earliest"}
    conf.update(kw)
    c = KafkaConsumer(**conf)
    c.assign([TopicPartition(t, part)])
    return c


def poll_n(c, n, timeout=60):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for msgs in c.poll(timeout_ms=500, max_records=5000).values():
            got.extend(msgs)
    return got


def group(ctx):
    import threading
    t, g = "kafka-python-group", "kafka-python-group-g"
    P, N1, N2 = records.GROUP_PARTITIONS, records.GROUP_FIRST, records.GROUP_SECOND
    ctx.step("create_topics %s partitions=%d" % (t, P))
    new_topic(ctx, t, P)
    ctx.step("produce %d records" % N1)
    prod = producer(ctx)
    send_all(prod, t, [(i % P, None, b"g%d" % i, None, None) for i in range(N1)])
    seen = {}
    lock = threading.Lock()

    class Member(threading.Thread):
        def __init__(self, n):
            super().__init__(daemon=True)
            self.c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, group_id=g,
                                   client_id="m%d" % n, enable_auto_commit=False,
                                   auto_offset_reset="earliest", session_timeout_ms=10000,
                                   heartbeat_interval_ms=500, max_poll_interval_ms=30000)
            self.c.subscribe([t])
            self.stop = threading.Event()
            self.parts = 0
            self.error = None

        def run(self):
            try:
                while not self.stop.is_set():
                    batch = self.c.poll(timeout_ms=200)
                    for msgs in batch.values():
                        for m in msgs:
                            with lock:
                                seen.setdefault(int(m.value[1:]), []).append(self.name)
                    if batch:
                        self.c.commit()
                    self.parts = len(self.c.assignment())
                self.c.close()
            except Exception as e:  # noqa: BLE001
                self.error = e

    def wait(cond, timeout, what, ms):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errs = [m.error for m in ms if m.error]
            if errs:
                raise Fail("%s: a member failed: %r" % (what, errs[0]))
            if cond():
                return
            time.sleep(0.1)
        raise Fail("%s: not reached in %ss (seen %d, assignments %r)"
                   % (what, timeout, len(seen), [m.parts for m in ms]))
    ctx.step("one member takes all %d partitions" % P)
    m1 = Member(1)
    m1.start()
    wait(lambda: m1.parts == P and seen, 30, "first member", [m1])
    ctx.step("two more members join: rebalance to 2 partitions each")
    ms = [m1, Member(2), Member(3)]
    for m in ms[1:]:
        m.start()
    wait(lambda: sorted(m.parts for m in ms) == [2, 2, 2] and len(seen) == N1, 60,
         "rebalance", ms)
    ctx.step("close the members")
    for m in ms:
        m.stop.set()
    for m in ms:
        m.join(30)
    ctx.step("produce %d more, restart three members: they resume at the commits" % N2)
    send_all(prod, t, [(i % P, None, b"g%d" % i, None, None) for i in range(N1, N1 + N2)])
    seen.clear()
    ms = [Member(n) for n in (4, 5, 6)]
    for m in ms:
        m.start()
    wait(lambda: len(seen) >= N2, 60, "resume", ms)
    time.sleep(1)
    for m in ms:
        m.stop.set()
    for m in ms:
        m.join(30)
    ctx.eq("records after the restart", list(range(N1, N1 + N2)), sorted(seen))
    ctx.eq("records delivered twice after the restart", [],
           [k for k, v in seen.items() if len(v) > 1])


def offsets(ctx):
    t = "kafka-python-times"
    n, step = records.TIMES_N, records.TIMES_STEP
    new_topic(ctx, t)
    ctx.step("produce %d records with timestamps" % n)
    send_all(producer(ctx), t, [(0, records.key(i), records.value(i, t), records.headers(i),
                                 records.BASE_TS + i * step) for i in range(n)])
    c = assigned(ctx, t)
    tp = TopicPartition(t, 0)
    ctx.step("offsets_for_times")
    for i in (0, n // 2, n - 1):
        r = c.offsets_for_times({tp: records.BASE_TS + i * step})[tp]
        ctx.eq("offset for timestamp of record %d" % i, (i, records.BASE_TS + i * step),
               (r.offset, r.timestamp))
    ctx.eq("offset for a timestamp after the last", None,
           c.offsets_for_times({tp: records.BASE_TS + n * step})[tp])
    ctx.step("beginning_offsets, end_offsets")
    ctx.eq("beginning, end", (0, n), (c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]))
    ctx.step("seek to the middle, consume to the end")
    c.seek(tp, n // 2)
    got = poll_n(c, n - n // 2)
    ctx.eq("offsets from the middle", list(range(n // 2, n)), [m.offset for m in got])
    ctx.eq("timestamps from the middle", [records.BASE_TS + i * step for i in range(n // 2, n)],
           [m.timestamp for m in got])
    ctx.step("seek back to 100")
    c.seek(tp, 100)
    got = poll_n(c, 10)
    ctx.eq("offsets after seek", list(range(100, 110)), [m.offset for m in got[:10]])
    ctx.eq("value after seek", records.value(100, t), got[0].value)
    c.close()


def admin_scenario(ctx):
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions
    t = "kafka-python-admin"
    ctx.step("create_topics " + t)
    new_topic(ctx, t, 1, {"retention.ms": "86400000"})
    a = admin_client(ctx)
    try:
        def topic_configs():
            r = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
            r = r[0] if isinstance(r, list) else r
            res = r.resources[0]
            ctx.eq("describe_configs error", 0, res[0])
            return {e[0]: e[1] for e in res[4]}
        ctx.step("describe_configs")
        cfg = topic_configs()
        ctx.eq("retention.ms", "86400000", cfg.get("retention.ms"))
        ctx.eq("cleanup.policy", "delete", cfg.get("cleanup.policy"))
        ctx.step("alter_configs")
        r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t,
                                            configs={"retention.ms": "123456789",
                                                     "segment.bytes": "10485760"})])
        ctx.eq("alter_configs errors", [0], [x[0] for x in r.resources])
        cfg = topic_configs()
        ctx.eq("retention.ms after alter", "123456789", cfg.get("retention.ms"))
        ctx.eq("segment.bytes after alter", "10485760", cfg.get("segment.bytes"))
        ctx.step("create_partitions to 3")
        a.create_partitions({t: NewPartitions(3)})
        ctx.wait_topic(t, 3)
        ctx.step("produce to the new partition 2")
        p = producer(ctx)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(p.partitions_for(t) or ()) != 3:
            time.sleep(0.3)
        ctx.eq("partitions seen by the producer", {0, 1, 2}, p.partitions_for(t))
        ctx.eq("offsets in partition 2", [(2, i) for i in range(10)],
               send_all(p, t, [(2, None, b"p2-%d" % i, None, None) for i in range(10)]))
        p.close(10)
        ctx.step("delete_topics " + t)
        a.delete_topics([t], timeout_ms=10000)
        ctx.wait_topic_gone(t)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and t in a.list_topics():
            time.sleep(0.2)
        ctx.check(t not in a.list_topics(), "topics after delete", "no " + t, t)
    finally:
        a.close()
    ctx.note("delete records: kafka-python 2.0.2 has no delete_records")


def large(ctx):
    from kafka.errors import MessageSizeTooLargeError
    t = "kafka-python-large"
    ctx.step("create_topics %s max.message.bytes=%d" % (t, records.TOPIC_MAX_MESSAGE))
    new_topic(ctx, t, 1, {"max.message.bytes": str(records.TOPIC_MAX_MESSAGE)})
    p = producer(ctx, max_request_size=4 << 20, buffer_memory=64 << 20, retries=0,
                 linger_ms=0)
    big = bytes(range(256)) * (records.LARGE // 256)
    ctx.step("produce a %d-byte record" % len(big))
    ctx.eq("offset", [(0, 0)], send_all(p, t, [(0, b"big", big, [("h", b"1")], None)]))
    ctx.step("consume the large record")
    c = assigned(ctx, t, max_partition_fetch_bytes=4 << 20, fetch_max_bytes=8 << 20)
    got = poll_n(c, 1)
    c.close()
    ctx.check(len(got) == 1 and got[0].value == big and got[0].key == b"big",
              "large record", "the same %d bytes" % len(big), [len(m.value) for m in got])
    ctx.step("produce a %d-byte record over the topic's limit" % records.TOO_LARGE)
    f = p.send(t, partition=0, value=b"x" * records.TOO_LARGE)
    try:
        f.get(timeout=30)
    except MessageSizeTooLargeError:
        pass
    else:
        raise Fail("a %d-byte record to a topic with max.message.bytes=%d was accepted"
                   % (records.TOO_LARGE, records.TOPIC_MAX_MESSAGE))
    ctx.step("the topic still works")
    ctx.eq("offset after the rejected record", [(0, 1)],
           send_all(p, t, [(0, None, b"small", None, None)]))
    p.close(10)


def restart(ctx, name):
    t = "kafka-python-" + name
    new_topic(ctx, t)
    p = producer(ctx, acks="all", retries=100, retry_backoff_ms=100, linger_ms=2,
                 reconnect_backoff_ms=50, reconnect_backoff_max_ms=500,
                 max_in_flight_requests_per_connection=1, request_timeout_ms=10000)
    c = assigned(ctx, t, reconnect_backoff_ms=50, reconnect_backoff_max_ms=500)
    acked, consumed, futs = {}, {}, []
    restarted, after, i = None, None, 0
    ctx.step("produce and consume in a loop; the broker restarts in the middle")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if records.restart_wants_more(len(acked), after) and len(futs) < 200:
            futs.append((i, p.send(t, partition=0, value=b"r%d" % i)))
            i += 1
        keep = []
        for j, f in futs:
            if f.is_done:
                if f.succeeded():
                    acked[f.value.offset] = b"r%d" % j
            else:
                keep.append((j, f))
        futs = keep
        for msgs in c.poll(timeout_ms=5).values():
            for m in msgs:
                consumed[m.offset] = m.value
        if restarted is None and len(acked) >= records.RESTART_ACKS:
            restarted = ctx.request_restart()
        if restarted is not None and restarted.is_set() and after is None:
            ctx.step("broker back; keep going")
            after = len(acked)
        if after is not None and len(acked) >= after + records.RESTART_ACKS \
                and all(o in consumed for o in acked):
            break
    ctx.check(after is not None, "broker restart", "done", "not done")
    ctx.check(len(acked) >= after + records.RESTART_ACKS, "acknowledged after the restart",
              ">= %d" % records.RESTART_ACKS, len(acked) - after)
    missing = [o for o in sorted(acked) if consumed.get(o) != acked[o]]
    ctx.eq("acknowledged records the consumer did not get back (first 5)", [], missing[:5])
    p.close(5)
    c.close()


def xc_produce(ctx):
    t = records.xc_topic("kafka-python")
    new_topic(ctx, t)
    ctx.step("produce %d records to %s" % (records.XC_N, t))
    p = producer(ctx)
    send_all(p, t, [(0, records.key(i), records.value(i, t), records.headers(i),
                     records.timestamp(i)) for i in range(records.XC_N)])
    p.close(10)


def xc_consume(ctx):
    import json
    with open(ctx.out, "w") as f:
        for t in ctx.topics:
            ctx.step("consume " + t)
            c = assigned(ctx, t)
            for m in poll_n(c, records.XC_N):
                f.write(json.dumps(records.observation(t, m.offset, m.key, m.value,
                                                       list(m.headers), m.timestamp)) + "\n")
            c.close()


if __name__ == "__main__":
    sys.exit(main({"metadata": metadata, "create-topic": create_topic_scenario,
                   "produce": produce, "consume": consume, "group": group,
                   "offsets": offsets, "admin": admin_scenario, "large": large,
                   "restart-term": lambda ctx: restart(ctx, "restart-term"),
                   "restart-kill": lambda ctx: restart(ctx, "restart-kill"),
                   "xc-produce": xc_produce, "xc-consume": xc_consume}))
