"""kcat (librdkafka's command-line tool) scenarios, driven from Python."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skeinlib import records, wire  # noqa: E402
from skeinlib.scenario import Fail, Unsupported, expected_librdkafka, main, row  # noqa: E402

CLIENT = "kcat"
KCAT = os.environ.get("KCAT", "kcat")


def kcat(ctx, args, stdin=None, timeout=60):
    cmd = [KCAT, "-b", ctx.bootstrap, "-X", "broker.address.family=v4"] + args
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("%s timed out after %ss" % (" ".join(cmd), timeout))
    if p.returncode != 0:
        raise Fail("%s exited %d: %s" % (" ".join(cmd[:8]), p.returncode,
                                         p.stderr.decode(errors="replace")[-1500:]))
    return p


def librdkafka_version():
    """The librdkafka kcat loads (at start, by name: LD_LIBRARY_PATH picks which), as
    kcat -V reports it."""
    p = subprocess.run([KCAT, "-V"], capture_output=True, timeout=30)
    m = re.search(rb"librdkafka (\S+)", p.stdout + p.stderr)
    return m and m.group(1).decode(errors="replace")


def check_librdkafka(ctx):
    want = expected_librdkafka()
    if want:
        ctx.step("kcat -V: librdkafka version")
        ctx.eq("librdkafka in kcat -V", want, librdkafka_version())


def check_originating_broker(ctx, md):
    """From librdkafka 2.10 on (its #4557: brokers are known by id only) the bootstrap
    connection stays a handle of its own, id -1, and kcat -L asks through it: the
    originating broker is then -1 from any broker, Kafka's too. The broker list above
    has checked the id the broker gives itself."""
    orig = md.get("originating_broker", {})
    version = tuple(int(x) for x in re.findall(r"\d+", librdkafka_version() or "")[:2])
    if orig.get("id") == -1 and version >= (2, 10):
        ctx.check(orig.get("name", "").endswith("/bootstrap"), "originating broker -1",
                  "the bootstrap connection", orig)
        return
    ctx.check_broker_id("originating broker id", orig.get("id"))


def list_metadata(ctx, extra=()):
    p = kcat(ctx, ["-L", "-J"] + list(extra), timeout=30)
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise Fail("kcat -L -J printed no JSON (%s): %r" % (e, p.stdout[:500]))


def metadata(ctx):
    ctx.step("kcat -L -J")
    md = list_metadata(ctx)
    brokers = sorted((b["id"], b["name"]) for b in md.get("brokers", []))
    ctx.eq("brokers", [(i, "%s:%d" % (h, p)) for i, h, p in ctx.brokers()], brokers)
    ctx.eq("controllerid", ctx.expect["controller_id"], md.get("controllerid"))
    # kcat -L prints no cluster id; the other clients check it.
    check_originating_broker(ctx, md)
    ctx.step("kcat -L -J -t (auto-create)")
    name = "kcat-auto"
    t = auto_created(ctx, name)
    if "error" in t:
        raise Fail("metadata of auto-created %s: error %s" % (name, t["error"]))
    ctx.eq("partitions of " + name, [0], [p["partition"] for p in t["partitions"]])
    ctx.check_broker_id("leader of %s/0" % name, t["partitions"][0]["leader"])


def auto_created(ctx, name):
    """kcat -L -t name, auto-creating it: the topic's entry. As Kafka, a
    cluster may answer the first ask LEADER_NOT_AVAILABLE while the topic is
    being placed; kcat does not ask again, so this does (for up to 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        md = list_metadata(ctx, ["-t", name, "-X", "allow.auto.create.topics=true"])
        ts = [t for t in md.get("topics", []) if t.get("topic") == name]
        ctx.check(len(ts) == 1, "topics in kcat -L -t " + name, "one entry", md.get("topics"))
        if "Leader not available" not in ts[0].get("error", "") or time.monotonic() > deadline:
            return ts[0]
        time.sleep(0.2)


def create_topic(ctx):
    # kcat has no admin commands: a topic comes into being by auto-creation.
    name = "kcat-created"
    ctx.step("kcat -L -t %s (auto-create)" % name)
    t = auto_created(ctx, name)
    ctx.check("error" not in t, "metadata of " + name, "no error", t)
    ctx.step("kcat -L (all topics)")
    names = [t["topic"] for t in list_metadata(ctx).get("topics", [])]
    ctx.check(name in names, "all topics", "contains " + name, names)


def kcat_headers(i):
    out = []
    for k, v in records.headers(i):
        out += ["-H", "%s=%s" % (k, v.decode())]
    return out


def produce(ctx):
    block = 1000
    for codec in records.CODECS:
        for acks in records.ACKS:
            t = records.topic(CLIENT, codec, acks)
            ctx.step("produce %d records to %s" % (records.N, t))
            # headers are per kcat run, and records.headers() is per block of 1000
            for start in range(0, records.N, block):
                end = min(records.N, start + block)
                lines = []
                for i in range(start, end):
                    k = records.key(i)
                    v = records.value(i, t)
                    lines.append((k + b"\t" + v) if k is not None else v)
                kcat(ctx, ["-P", "-t", t, "-p", "0", "-K", "\t", "-z", codec,
                           "-X", "acks=%s" % ("1" if acks == "1" else "-1"),
                           "-X", "message.send.max.retries=0",
                           "-X", "max.in.flight.requests.per.connection=1",
                           "-X", "allow.auto.create.topics=true"]
                     + kcat_headers(start), stdin=b"\n".join(lines) + b"\n")


def consume(ctx):
    for codec in records.CODECS:
        for acks in records.ACKS:
            t = records.topic(CLIENT, codec, acks)
            ctx.step("consume %s from the beginning" % t)
            p = kcat(ctx, ["-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-J",
                           "-c", str(records.N + 10)], timeout=90)
            got = []
            for line in p.stdout.splitlines():
                if not line.strip():
                    continue
                m = json.loads(line)
                hs = m.get("headers") or []
                pairs = [(hs[j], hs[j + 1].encode() if hs[j + 1] is not None else None)
                         for j in range(0, len(hs), 2)]
                k = m.get("key")
                v = m.get("payload")
                got.append((m["offset"], k.encode() if k is not None else None,
                            v.encode() if v is not None else None, pairs))
            err = records.compare(got, t)
            if err:
                raise Fail("%s: %s" % (t, err))


def produce_lines(ctx, t, start, end, extra=()):
    """Records start..end-1 (one header block) to t/0 with per-line keys."""
    lines = []
    for i in range(start, end):
        k = records.key(i)
        v = records.value(i, t)
        lines.append((k + b"\t" + v) if k is not None else v)
    kcat(ctx, ["-P", "-t", t, "-p", "0", "-K", "\t", "-X", "allow.auto.create.topics=true"]
         + list(extra) + kcat_headers(start), stdin=b"\n".join(lines) + b"\n")


def consume_json(ctx, t, offset, count=None, extra=(), timeout=60):
    args = ["-C", "-t", t, "-p", "0", "-o", str(offset), "-e", "-J"] + list(extra)
    if count is not None:
        args += ["-c", str(count)]
    out = []
    for line in kcat(ctx, args, timeout=timeout).stdout.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def json_headers(m):
    hs = m.get("headers") or []
    return [(hs[j], hs[j + 1].encode() if hs[j + 1] is not None else None)
            for j in range(0, len(hs), 2)]


def as_record(m):
    k, v = m.get("key"), m.get("payload")
    return (m["offset"], k.encode() if k is not None else None,
            v.encode() if v is not None else None, json_headers(m))


def query(ctx, t, ts):
    """kcat -Q: the offset for a timestamp."""
    p = kcat(ctx, ["-Q", "-t", "%s:0:%d" % (t, ts)], timeout=30)
    out = p.stdout.decode().strip()
    # "<topic> [0] offset <n>"
    try:
        return int(out.rsplit("offset", 1)[1].split()[0])
    except (IndexError, ValueError):
        raise Fail("kcat -Q printed %r" % out)


def offsets(ctx):
    # kcat sets no timestamps of its own: records get CreateTime now. Two runs with a
    # recorded instant between them give a timestamp that splits the partition.
    t = "kcat-times"
    n = records.TIMES_N
    half = n // 2
    ctx.step("produce records 0..%d (first kcat run)" % (half - 1))
    produce_lines(ctx, t, 0, half)
    time.sleep(0.02)
    split = int(time.time() * 1000)
    time.sleep(0.02)
    ctx.step("produce records %d..%d (second kcat run)" % (half, n - 1))
    produce_lines(ctx, t, half, n)
    after = int(time.time() * 1000) + 60000
    ctx.step("kcat -Q offsets for timestamps")
    ctx.eq("offset for timestamp 0", 0, query(ctx, t, 0))
    ctx.eq("offset for the split instant", half, query(ctx, t, split))
    ctx.eq("offset for a timestamp after the last", -1, query(ctx, t, after))
    ctx.step("kcat -C -o s@<split instant>")
    got = consume_json(ctx, t, "s@%d" % split)
    ctx.eq("offsets from the split instant", list(range(half, n)), [m["offset"] for m in got])
    ctx.check(all(m.get("tstype") == "create" and m["ts"] >= split for m in got),
              "timestamps from the split instant", ">= %d, create" % split,
              [(m.get("tstype"), m["ts"]) for m in got[:3]])
    for m in got:
        i = m["offset"]
        exp = (i, records.key(i), records.value(i, t), records.headers(i))
        if as_record(m) != exp:
            raise Fail("record %d: expected %r, got %r" % (i, exp, as_record(m)))
    ctx.step("kcat -C -o s@0 -o e@<split instant>")
    got = consume_json(ctx, t, "s@0", extra=["-o", "e@%d" % split])
    ctx.eq("offsets before the split instant", list(range(half)), [m["offset"] for m in got])
    ctx.step("kcat -C -o 100 -c 10 (from the middle)")
    got = consume_json(ctx, t, 100, count=10)
    ctx.eq("offsets from 100", list(range(100, 110)), [m["offset"] for m in got])
    ctx.eq("value at 100", records.value(100, t).decode(), got[0]["payload"])
    ctx.step("kcat -C -o -10 (relative to the end)")
    got = consume_json(ctx, t, -10)
    ctx.eq("offsets of the last 10", list(range(n - 10, n)), [m["offset"] for m in got])


def large(ctx):
    # kcat has no admin: the topic with max.message.bytes is made by a raw CreateTopics.
    t = "kcat-large"
    ctx.step("CreateTopics %s max.message.bytes=%d (raw request)" % (t, records.TOPIC_MAX_MESSAGE))
    err, msg = wire.create_topic(ctx.port, t, 1, {"max.message.bytes":
                                                  str(records.TOPIC_MAX_MESSAGE)},
                                 replication_factor=ctx.rf)
    ctx.eq("CreateTopics error", (0, None), (err, msg))
    big = bytes(range(256)) * (records.LARGE // 256)
    limits = ["-X", "message.max.bytes=%d" % (4 << 20)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big")
        with open(path, "wb") as f:
            f.write(big)
        ctx.step("kcat -P a %d-byte file as one record" % len(big))
        kcat(ctx, ["-P", "-t", t, "-p", "0", "-k", "big", "-H", "h=1",
                   "-X", "message.send.max.retries=0"] + limits + [path])
        ctx.step("kcat -C the large record")
        fetch = ["-X", "fetch.max.bytes=%d" % (4 << 20),
                 "-X", "max.partition.fetch.bytes=%d" % (4 << 20),
                 "-X", "receive.message.max.bytes=%d" % (8 << 20)]
        p = kcat(ctx, ["-C", "-t", t, "-p", "0", "-o", "0", "-c", "1", "-e",
                       "-f", "%s"] + fetch)
        ctx.check(p.stdout == big, "large record", "the same %d bytes" % len(big),
                  len(p.stdout))
        p = kcat(ctx, ["-C", "-t", t, "-p", "0", "-o", "0", "-c", "1", "-e",
                       "-f", "%o|%k|%S|%h\\n"] + fetch)
        ctx.eq("offset|key|size|headers", "0|big|%d|h=1" % len(big), p.stdout.decode().strip())
        ctx.step("kcat -P a %d-byte record over the topic's limit" % records.TOO_LARGE)
        path2 = os.path.join(d, "huge")
        with open(path2, "wb") as f:
            f.write(b"x" * records.TOO_LARGE)
        cmd = [KCAT, "-b", ctx.bootstrap, "-X", "broker.address.family=v4", "-P", "-t", t,
               "-p", "0", "-X", "message.send.max.retries=0"] + limits + [path2]
        p = subprocess.run(cmd, capture_output=True, timeout=60)
        errtext = p.stderr.decode(errors="replace")
        ctx.check(p.returncode != 0 and ("too large" in errtext.lower()
                                         or "MSG_SIZE_TOO_LARGE" in errtext),
                  "kcat exit status and error", "non-zero, message size too large",
                  (p.returncode, errtext[-300:]))
    ctx.step("the topic still works")
    kcat(ctx, ["-P", "-t", t, "-p", "0"], stdin=b"small\n")
    got = consume_json(ctx, t, 1, count=1, extra=fetch)
    ctx.eq("offset and value after the rejected record", [(1, "small")],
           [(m["offset"], m["payload"]) for m in got])


def xc_produce(ctx):
    # keys with -K, headers with -H (per run, one run per header block); kcat cannot set
    # timestamps, so the runner accepts any CreateTime from it.
    t = records.xc_topic(row("kcat"))
    ctx.step("produce %d records to %s" % (records.XC_N, t))
    for start in range(0, records.XC_N, 1000):
        produce_lines(ctx, t, start, min(records.XC_N, start + 1000))
    ctx.extra["timestamps"] = False


def xc_consume(ctx):
    with open(ctx.out, "w") as f:
        for t in ctx.topics:
            ctx.step("kcat -C -J " + t)
            for m in consume_json(ctx, t, "beginning", count=records.XC_N, timeout=90):
                _, k, v, h = as_record(m)
                f.write(json.dumps(records.observation(
                    t, m["offset"], k, v, [(n, x if x is not None else b"") for n, x in h],
                    m["ts"])) + "\n")


if __name__ == "__main__":
    _ = Unsupported
    sys.exit(main({"metadata": metadata, "create-topic": create_topic,
                   "produce": produce, "consume": consume, "offsets": offsets,
                   "large": large, "xc-produce": xc_produce, "xc-consume": xc_consume},
                  preflight=check_librdkafka))
