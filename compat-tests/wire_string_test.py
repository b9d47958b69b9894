#!/usr/bin/python3
"""Wire strings are bytes with a length: a zero byte inside one is an ordinary
character that the broker keeps, compares and echoes as Kafka does, never the end of
a C string. Hand-encoded requests (clients differ in what they let through), and
kafka-python for the offset metadata (committed and read back by a real client):

  OffsetCommit metadata "Hello\\0world!" fetched back whole, from memory and again
  after a restart (the __consumer_offsets record round trip); two group ids that
  differ only after a zero byte are two groups;
  a static member whose group id, client id, group instance id, protocol type and
  name and member metadata hold zero bytes, described back intact (DescribeGroups,
  ListGroups, JoinGroup's member id made from the instance id), also after a restart;
  a topic config value with a zero byte that Kafka accepts, described back intact;
  a client-quota entity whose client id holds a zero byte, a comma and '=' described
  back intact (and not under the id cut at the zero byte), also after a restart;
  a config name or value that a zero byte makes invalid refused as Kafka does;
  a topic name with a zero byte refused with INVALID_TOPIC_EXCEPTION, and a fetch
  session on one answers for that name, not for the topic named like its cut form;
  skein-dump-log prints a record's key and value whole.

usage: wire_string_test.py SKEIN"""
import os
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Producer  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker  # noqa: E402

TOPIC = "ws-t"
META = b"Hello\x00world!"
GROUP = b"ws-g\x00one"
GROUP_TWIN = b"ws-g\x00two"
SGROUP = b"ws-static\x00g"
CLIENT = b"cli\x00ent"
INSTANCE = b"inst\x00ance"
PTYPE = b"cons\x00umer"
PNAME = b"range\x00x"
MMETA = b"\x00\x01member\x00meta\x00"
RETRIABLE = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS / NOT_AVAILABLE / NOT_COORDINATOR


def check(cond, what, expected, got):
    if not cond:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, got))
    print("ok -", what, flush=True)


def s16(b):
    return struct.pack(">h", -1) if b is None else struct.pack(">h", len(b)) + b


def byts(b):
    return struct.pack(">i", len(b)) + b


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def rstr(r):
    n = r.i16()
    return None if n < 0 else r.take(n)


def rbytes(r):
    n = r.i32()
    return None if n < 0 else r.take(n)


class Client:
    def __init__(self, port, client_id=b"ws-test"):
        self.c = wire.Conn(port, timeout=30)
        self.client_id = client_id
        self.corr = 0

    def call(self, key, version, body, timeout=30):
        self.corr += 1
        h = struct.pack(">hhi", key, version, self.corr) + s16(self.client_id)
        self.c.send(wire.frame(h + body))
        corr, resp = self.c.recv_frame(timeout)
        if corr != self.corr:
            raise AssertionError("correlation id %d, expected %d" % (corr, self.corr))
        return wire.Reader(resp)

    def close(self):
        self.c.close()


def until_ready(what, fn, timeout=60):
    """Retries fn while the coordinator is loading or not there yet."""
    deadline = time.monotonic() + timeout
    while True:
        err, out = fn()
        if err not in RETRIABLE or time.monotonic() > deadline:
            return err, out
        time.sleep(0.1)


def find_coordinator(cl, group):
    """FindCoordinator v1; the first one creates __consumer_offsets, as with Kafka."""
    def once():
        r = cl.call(10, 1, s16(group) + b"\x00")
        r.i32()
        return r.i16(), None
    err, _ = until_ready("FindCoordinator", once)
    check(err == 0, "FindCoordinator", 0, err)


# ---- offsets ---------------------------------------------------------------

def offset_commit(cl, group, metadata, offset):
    """OffsetCommit v2: a simple commit (generation -1) of partition 0."""
    part = struct.pack(">iq", 0, offset) + s16(metadata)
    body = (s16(group) + struct.pack(">i", -1) + s16(b"") + struct.pack(">q", -1)
            + arr([s16(TOPIC.encode()) + arr([part])]))

    def once():
        r = cl.call(8, 2, body)
        errs = []
        r.array(lambda: (rstr(r), r.array(lambda: errs.append((r.i32(), r.i16())))))
        return errs[0][1], errs
    return until_ready("OffsetCommit", once)


def offset_fetch(cl, group):
    """OffsetFetch v1 for partition 0: (error, offset, metadata)."""
    body = s16(group) + arr([s16(TOPIC.encode()) + arr([struct.pack(">i", 0)])])

    def once():
        r = cl.call(9, 1, body)
        parts = []
        r.array(lambda: (rstr(r), r.array(
            lambda: parts.append((r.i32(), r.i64(), rstr(r), r.i16())))))
        p = parts[0]
        return p[3], (p[3], p[1], p[2])
    return until_ready("OffsetFetch", once)[1]


def check_offsets(port, when):
    cl = Client(port)
    try:
        got = offset_fetch(cl, GROUP)
        check(got == (0, 42, META), "OffsetFetch %s returns all 12 metadata bytes" % when,
              (0, 42, META), got)
        got = offset_fetch(cl, GROUP_TWIN)
        check(got == (0, 7, b"twin"), "OffsetFetch %s of a group id differing only after a "
              "zero byte" % when, (0, 7, b"twin"), got)
    finally:
        cl.close()


def commit_offsets(port):
    cl = Client(port)
    try:
        find_coordinator(cl, GROUP)
        err, _ = offset_commit(cl, GROUP, META, 42)
        check(err == 0, "OffsetCommit with metadata Hello\\0world!", 0, err)
        err, _ = offset_commit(cl, GROUP_TWIN, b"twin", 7)
        check(err == 0, "OffsetCommit into a group id differing only after a zero byte", 0, err)
    finally:
        cl.close()


# kafka-python passes offset metadata, group ids and client ids through as bytes
# (confluent-kafka-python 1.7 has no offset metadata at all).
KP_GROUP = "kp-g\x00x"


def kafka_python_commit(b):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=KP_GROUP, client_id="kp\x00cli",
                      enable_auto_commit=False, request_timeout_ms=30000)
    try:
        # Raises if the commit fails.
        c.commit({TopicPartition(TOPIC, 0): OffsetAndMetadata(42, META.decode())})
    finally:
        c.close()


def kafka_python_fetch(b, when):
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
    try:
        got = a.list_consumer_group_offsets(KP_GROUP)
        cut = a.list_consumer_group_offsets("kp-g")
    finally:
        a.close()
    want = {TopicPartition(TOPIC, 0): OffsetAndMetadata(42, META.decode())}
    check(got == want and cut == {}, "kafka-python reads it back %s, not under kp-g" % when,
          (want, {}), (got, cut))


# ---- a static member -------------------------------------------------------

def join(cl):
    """JoinGroup v5 as a static member: (error, generation, member id, leader)."""
    body = (s16(SGROUP) + struct.pack(">ii", 30000, 30000) + s16(b"") + s16(INSTANCE)
            + s16(PTYPE) + arr([s16(PNAME) + byts(MMETA)]))

    def once():
        r = cl.call(11, 5, body)
        r.i32()
        err, gen, proto, leader, mid = r.i16(), r.i32(), rstr(r), rstr(r), rstr(r)
        members = r.array(lambda: (rstr(r), rstr(r), rbytes(r)))
        return err, (err, gen, proto, leader, mid, members)
    return until_ready("JoinGroup", once)[1]


def sync(cl, gen, mid):
    body = (s16(SGROUP) + struct.pack(">i", gen) + s16(mid) + s16(INSTANCE)
            + arr([s16(mid) + byts(b"assign\x00ment")]))
    r = cl.call(14, 3, body)
    r.i32()
    return r.i16(), rbytes(r)


def describe_group(cl):
    """DescribeGroups v4 of SGROUP."""
    def once():
        r = cl.call(15, 4, arr([s16(SGROUP)]) + b"\x00")
        r.i32()
        out = []

        def member():
            return {"member_id": rstr(r), "instance_id": rstr(r), "client_id": rstr(r),
                    "client_host": rstr(r), "metadata": rbytes(r), "assignment": rbytes(r)}

        def group():
            g = {"error": r.i16(), "group_id": rstr(r), "state": rstr(r),
                 "protocol_type": rstr(r), "protocol": rstr(r), "members": r.array(member)}
            r.i32()
            out.append(g)
        r.array(group)
        return out[0]["error"], out[0]
    return until_ready("DescribeGroups", once)[1]


def list_groups(cl):
    r = cl.call(16, 2, b"")
    r.i32()
    err = r.i16()
    return err, dict(r.array(lambda: (rstr(r), rstr(r))))


def join_static(port):
    cl = Client(port, CLIENT)
    try:
        err, gen, proto, leader, mid, members = join(cl)
        check(err == 0 and proto == PNAME and leader == mid,
              "JoinGroup with zero bytes in every string", (0, PNAME, mid), (err, proto, leader))
        check(mid.startswith(INSTANCE + b"-") and len(mid) == len(INSTANCE) + 37,
              "the member id is the whole instance id, a dash and a UUID", INSTANCE + b"-<uuid>",
              mid)
        check(members == [(mid, INSTANCE, MMETA)], "the leader sees its metadata intact",
              [(mid, INSTANCE, MMETA)], members)
        err, assignment = sync(cl, gen, mid)
        check((err, assignment) == (0, b"assign\x00ment"), "SyncGroup", (0, b"assign\x00ment"),
              (err, assignment))
        return mid
    finally:
        cl.close()


def check_described(port, mid, when):
    cl = Client(port)
    try:
        g = describe_group(cl)
        want = {"error": 0, "group_id": SGROUP, "state": b"Stable", "protocol_type": PTYPE,
                "protocol": PNAME,
                "members": [{"member_id": mid, "instance_id": INSTANCE, "client_id": CLIENT,
                             "client_host": b"/127.0.0.1", "metadata": MMETA,
                             "assignment": b"assign\x00ment"}]}
        check(g == want, "DescribeGroups %s shows every string intact" % when, want, g)
        err, groups = list_groups(cl)
        check(err == 0 and groups.get(SGROUP) == PTYPE,
              "ListGroups %s shows the group id and protocol type intact" % when,
              {SGROUP: PTYPE}, groups)
    finally:
        cl.close()


# ---- fetch sessions ----------------------------------------------------------

def fetch_v7(cl, session, epoch, topics):
    """Fetch v7 (sessions, by name); topics: [(name, partition)]. Returns (error,
    session id, [(topic, partition, error)])."""
    body = struct.pack(">iiiibii", -1, 100, 1, 1 << 20, 0, session, epoch)
    body += arr([s16(t) + arr([struct.pack(">iqqi", p, 0, -1, 1 << 20)]) for t, p in topics])
    body += arr([])
    r = cl.call(1, 7, body)
    r.i32()
    err, sid = r.i16(), r.i32()
    out = []

    def part(topic):
        p, perr = r.i32(), r.i16()
        r.i64(), r.i64(), r.i64()
        r.array(lambda: (r.i64(), r.i64()))
        rbytes(r)
        out.append((topic, p, perr))

    def topic():
        name = rstr(r)
        r.array(lambda: part(name))
    r.array(topic)
    return err, sid, out


def fetch_session(port):
    """A session on an unknown topic whose name is a real topic's plus a zero byte
    answers for that name, not for the real topic."""
    cl = Client(port)
    try:
        name = TOPIC.encode() + b"\x00x"
        err, sid, parts = fetch_v7(cl, 0, 0, [(name, 0)])
        check(err == 0 and sid > 0 and parts == [(name, 0, 3)],
              "a full fetch of an unknown topic with a zero byte: UNKNOWN_TOPIC_OR_PARTITION",
              [(name, 0, 3)], (err, sid, parts))
        err, sid2, parts = fetch_v7(cl, sid, 1, [])
        check(err == 0 and sid2 == sid and parts == [(name, 0, 3)],
              "the incremental fetch answers for the same name, still unknown",
              [(name, 0, 3)], (err, sid2, parts))
    finally:
        cl.close()


# ---- configs and topic names -----------------------------------------------

def incremental_alter(cl, name, value):
    """IncrementalAlterConfigs v0, SET one key of TOPIC: (error, message)."""
    cfg = s16(name) + b"\x00" + s16(value)
    body = arr([b"\x02" + s16(TOPIC.encode()) + arr([cfg])]) + b"\x00"
    r = cl.call(44, 0, body)
    r.i32()
    res = r.array(lambda: (r.i16(), rstr(r), r.i8(), rstr(r)))
    return res[0][0], res[0][1]


def describe_config(cl, name, topic=TOPIC):
    """DescribeConfigs v1 of one key of a topic: (error, value)."""
    body = arr([b"\x02" + s16(topic.encode()) + arr([s16(name)])]) + b"\x00"
    r = cl.call(32, 1, body)
    r.i32()
    out = []

    def entry():
        e = (rstr(r), rstr(r), r.i8(), r.i8(), r.i8())
        r.array(lambda: (rstr(r), rstr(r), r.i8()))
        return e

    def result():
        out.append((r.i16(), rstr(r), r.i8(), rstr(r), r.array(entry)))
    r.array(result)
    err, _, _, _, entries = out[0]
    values = {e[0]: e[1] for e in entries}
    return err, values.get(name)


THROTTLED = (b"follower.replication.throttled.replicas", b"0:1,\x002:3")


def create_with_configs(cl):
    """CreateTopics v2 of ws-c with configs holding zero bytes Kafka accepts."""
    cfgs = [s16(THROTTLED[0]) + s16(THROTTLED[1]), s16(b"retention.ms") + s16(b"7\x00")]
    body = (arr([s16(b"ws-c") + struct.pack(">ihi", 1, 1, 0) + arr(cfgs)])
            + struct.pack(">ib", 15000, 0))
    r = cl.call(19, 2, body)
    r.i32()
    res = r.array(lambda: (rstr(r), r.i16(), rstr(r)))
    check(res[0][1] == 0, "CreateTopics with a throttled list holding a zero byte and "
          "retention.ms \"7\\0\"", 0, res[0])


def check_configs(port, when):
    cl = Client(port)
    try:
        for topic, key, want in [(TOPIC, THROTTLED[0], THROTTLED[1]),
                                 (TOPIC, b"retention.ms", b"1000"),
                                 ("ws-c", THROTTLED[0], THROTTLED[1]),
                                 ("ws-c", b"retention.ms", b"7")]:
            got = describe_config(cl, key, topic)
            check(got == (0, want), "%s %s %s" % (topic, key.decode(), when), (0, want), got)
    finally:
        cl.close()


QCLIENT = b"c\x00q,user=z"


def alter_quota(cl):
    """AlterClientQuotas v0: producer_byte_rate 1024 for client-id QCLIENT."""
    body = (arr([arr([s16(b"client-id") + s16(QCLIENT)])
                 + arr([s16(b"producer_byte_rate") + struct.pack(">d?", 1024.0, False)])])
            + b"\x00")
    r = cl.call(49, 0, body)
    r.i32()
    res = r.array(lambda: (r.i16(), rstr(r), r.array(lambda: (rstr(r), rstr(r)))))
    check(res[0][0] == 0 and res[0][2] == [(b"client-id", QCLIENT)],
          "AlterClientQuotas for a client id with a zero byte, a comma and '='",
          (0, [(b"client-id", QCLIENT)]), res[0])


def check_quota(port, when):
    """DescribeClientQuotas v0, exact match on QCLIENT, and on it cut at the zero byte."""
    cl = Client(port)
    try:
        for match, want in [(QCLIENT, [([(b"client-id", QCLIENT)], [(b"producer_byte_rate",
                                                                      1024.0)])]),
                            (b"c", [])]:
            body = arr([s16(b"client-id") + b"\x00" + s16(match)]) + b"\x00"
            r = cl.call(48, 0, body)
            r.i32()
            err, _ = r.i16(), rstr(r)
            got = r.array(lambda: (r.array(lambda: (rstr(r), rstr(r))),
                                   r.array(lambda: (rstr(r), struct.unpack(">d", r.take(8))[0]))))
            check(err == 0 and got == want, "DescribeClientQuotas %s of %r" % (when, match),
                  want, (err, got))
    finally:
        cl.close()


def configs(port):
    cl = Client(port)
    try:
        # Kafka trims each item of a LIST (Java's trim takes bytes up to 0x20, the zero
        # byte included) before ThrottledReplicaListValidator checks it, and keeps the
        # value as sent.
        key, value = b"follower.replication.throttled.replicas", b"0:1,\x002:3"
        err, msg = incremental_alter(cl, key, value)
        check(err == 0, "a throttled-replicas list with a zero byte is accepted", 0, (err, msg))
        got = describe_config(cl, key)
        check(got == (0, value), "and described back intact", (0, value), got)
        # The message names it escaped: error messages are text.
        err, msg = incremental_alter(cl, b"retention.ms\x00x", b"1000")
        check(err == 40 and msg == b"Unknown topic config name: retention.ms\\x00x",
              "a config name that is a known one plus a zero byte is unknown (INVALID_CONFIG)",
              (40, b"Unknown topic config name: retention.ms\\x00x"), (err, msg))
        got = describe_config(cl, b"retention.ms")
        check(got == (0, b"604800000"), "and retention.ms is unchanged", (0, b"604800000"), got)
        err, msg = incremental_alter(cl, b"retention.ms", b"1000\x00 7")
        want = b"Invalid value 1000\\x00 7 for configuration retention.ms: Not a number of type LONG"
        check((err, msg) == (40, want),
              "a number with a zero byte inside is not a number (INVALID_CONFIG)", (40, want),
              (err, msg))
        got = describe_config(cl, b"retention.ms")
        check(got == (0, b"604800000"), "and retention.ms is unchanged", (0, b"604800000"), got)
        # A broker resource named "1\0x" is not broker 1.
        cfg = s16(b"log.retention.ms") + b"\x00" + s16(b"86400000")
        r = cl.call(44, 0, arr([b"\x04" + s16(b"1\x00x") + arr([cfg])]) + b"\x00")
        r.i32()
        res = r.array(lambda: (r.i16(), rstr(r), r.i8(), rstr(r)))
        check(res[0][0] == 42 and res[0][3] == b"1\x00x",
              "IncrementalAlterConfigs of broker \"1\\0x\": INVALID_REQUEST, name echoed",
              (42, b"1\x00x"), (res[0][0], res[0][3]))
        # Java's trim also takes a zero byte at either end: Kafka accepts the number and
        # shows it as parsed.
        err, msg = incremental_alter(cl, b"retention.ms", b"\x001000\x00")
        check(err == 0, "a number with zero bytes around it is trimmed as Kafka does", 0,
              (err, msg))
        got = describe_config(cl, b"retention.ms")
        check(got == (0, b"1000"), "and described as the number", (0, b"1000"), got)
        create_with_configs(cl)
        alter_quota(cl)
        # CreateTopics: a topic name with a zero byte is not a legal topic name.
        body = (arr([s16(b"bad\x00topic") + struct.pack(">ihi", 1, 1, 0) + arr([])])
                + struct.pack(">ib", 15000, 0))
        r = cl.call(19, 2, body)
        r.i32()
        res = r.array(lambda: (rstr(r), r.i16(), rstr(r)))
        check(res[0][0] == b"bad\x00topic" and res[0][1] == 17,
              "CreateTopics of a name with a zero byte: INVALID_TOPIC_EXCEPTION, name echoed",
              (b"bad\x00topic", 17), res[0][:2])
        want = (b'Topic name "bad\\x00topic" is illegal, it contains a character other than '
                b"ASCII alphanumerics, '.', '_' and '-'")
        check(res[0][2] == want, "and a message naming it whole (escaped, not cut)", want,
              res[0][2])
    finally:
        cl.close()


def dump_log(b, skein):
    """A record whose key and value hold zero bytes, printed whole by skein-dump-log
    --print-data-log (kafka-dump-log prints the bytes as they are)."""
    p = Producer({"bootstrap.servers": b.bootstrap})
    p.produce("ws-c", key=b"k\x00k", value=b"v\x00v", partition=0)
    left = p.flush(30)
    check(left == 0, "produce a record with zero bytes in key and value", 0, left)
    dump = os.path.join(os.path.dirname(os.path.dirname(skein)), "tools", "skein-dump-log")
    part = os.path.join(b.data_dir, "logs", "ws-c-0")
    segs = sorted(os.path.join(part, f) for f in os.listdir(part) if f.endswith(".log"))
    out = subprocess.run([dump, "--print-data-log", "--files"] + segs, capture_output=True,
                         timeout=60).stdout
    want = b" key: k\x00k payload: v\x00v\n"
    check(want in out, "skein-dump-log prints them whole", want, out[-300:])


def main():
    skein = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/src/skein")
    b = Broker(skein)
    try:
        b.start()
        err, msg = wire.create_topic(b.port, TOPIC)
        check(err == 0, "create " + TOPIC, 0, (err, msg))
        commit_offsets(b.port)
        check_offsets(b.port, "from memory")
        kafka_python_commit(b)
        kafka_python_fetch(b, "from memory")
        mid = join_static(b.port)
        check_described(b.port, mid, "from memory")
        fetch_session(b.port)
        configs(b.port)
        check_configs(b.port, "from memory")
        check_quota(b.port, "from memory")
        dump_log(b, skein)
        check(b.stop() == 0, "broker stops cleanly", 0, b.proc.returncode)
        report = b.sanitizer_report()  # before the restart clears the output
        check(report is None, "no sanitizer report", None, report and report[-2000:])
        b.start()
        check_configs(b.port, "after a restart")
        check_quota(b.port, "after a restart")
        check_offsets(b.port, "after a restart")
        kafka_python_fetch(b, "after a restart")
        check_described(b.port, mid, "after a restart")
        check(b.stop() == 0, "broker stops cleanly", 0, b.proc.returncode)
        report = b.sanitizer_report()
        check(report is None, "no sanitizer report", None, report and report[-2000:])
    except Exception as e:
        print("FAIL -", e, flush=True)
        print(b.tail(40), flush=True)
        return 1
    finally:
        b.cleanup()
    print("wire_string_test: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
