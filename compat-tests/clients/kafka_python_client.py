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
    exp = [(ctx.expect["node_id"], ctx.expect["host"], ctx.expect["port"])]
    ctx.eq(what, exp, sorted(brokers))


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
    admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=10000)


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
        ctx.eq("leaders of %s" % name, [ctx.expect["node_id"]] * 3,
               [p["leader"] for p in t["partitions"]])
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


if __name__ == "__main__":
    sys.exit(main({"metadata": metadata, "create-topic": create_topic_scenario,
                   "produce": produce, "consume": consume}))
