"""kcat (librdkafka's command-line tool) scenarios, driven from Python."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skeinlib import records  # noqa: E402
from skeinlib.scenario import Fail, Unsupported, main  # noqa: E402

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
    ctx.eq("brokers", [(ctx.expect["node_id"], "%s:%d" % (ctx.expect["host"],
                                                          ctx.expect["port"]))], brokers)
    ctx.eq("controllerid", ctx.expect["controller_id"], md.get("controllerid"))
    # kcat -L prints no cluster id; the other clients check it.
    ctx.eq("originating broker id", ctx.expect["node_id"], md.get("originating_broker", {})
           .get("id"))
    ctx.step("kcat -L -J -t (auto-create)")
    name = "kcat-auto"
    md = list_metadata(ctx, ["-t", name, "-X", "allow.auto.create.topics=true"])
    ts = [t for t in md.get("topics", []) if t.get("topic") == name]
    ctx.check(len(ts) == 1, "topics in kcat -L -t " + name, "one entry", md.get("topics"))
    t = ts[0]
    if "error" in t:
        raise Fail("metadata of auto-created %s: error %s" % (name, t["error"]))
    ctx.eq("partitions of " + name, [0], [p["partition"] for p in t["partitions"]])
    ctx.eq("leader of %s/0" % name, ctx.expect["node_id"], t["partitions"][0]["leader"])


def create_topic(ctx):
    # kcat has no admin commands: a topic comes into being by auto-creation.
    name = "kcat-created"
    ctx.step("kcat -L -t %s (auto-create)" % name)
    md = list_metadata(ctx, ["-t", name, "-X", "allow.auto.create.topics=true"])
    ts = [t for t in md.get("topics", []) if t.get("topic") == name]
    ctx.check(len(ts) == 1 and "error" not in ts[0], "metadata of " + name, "no error", ts)
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


if __name__ == "__main__":
    _ = Unsupported
    sys.exit(main({"metadata": metadata, "create-topic": create_topic,
                   "produce": produce, "consume": consume}))
