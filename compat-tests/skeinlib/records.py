"""The records every client produces and expects back, as a function of the index.

compat-tests/js/records.mjs is the same function for the Node.js clients: change both."""
import os

N = int(os.environ.get("COMPAT_RECORDS", "10000"))
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
ACKS = ["1", "all"]


def topic(client, codec, acks):
    return "%s-%s-acks%s" % (client, codec, acks)


def key(i):
    return ("k%d" % i).encode() if i % 2 == 0 else None


def value(i, topic_name):
    return ("v%d %s " % (i, topic_name) + "abcdefghij" * (i % 20)).encode()


def headers(i):
    """A list of (name, bytes) pairs; constant within a block of 1000 records so a
    tool that sets headers per run (kcat -H) can produce them too."""
    block = i // 1000
    if block % 3 == 0:
        return [("block", str(block).encode()), ("empty", b"")]
    if block % 3 == 1:
        return []
    return [("dup", b"a"), ("dup", b"b"), ("block", str(block).encode())]


def compare(got, topic_name, n=None):
    """got: list of (offset, key, value, headers) in consumption order, with bytes or
    None keys/values and headers as a list of (str, bytes). Returns None or a message
    naming the first difference."""
    n = N if n is None else n
    if len(got) != n:
        extra = ""
        if got:
            extra = " (first offset %s, last offset %s)" % (got[0][0], got[-1][0])
        return "consumed %d records, expected %d%s" % (len(got), n, extra)
    for i, (off, k, v, h) in enumerate(got):
        exp = (i, key(i), value(i, topic_name), headers(i))
        if (off, k, v, list(h)) != exp:
            return ("record %d: expected offset=%r key=%r value=%r headers=%r, got offset=%r "
                    "key=%r value=%r headers=%r" % ((i,) + exp[1:] + (off, k, v, list(h))))
    return None


# Cross-client records: each client produces XC_N records to xc_topic(client) with
# these contents and CreateTime timestamps; every client consumes every such topic.
XC_N = int(os.environ.get("COMPAT_XC_RECORDS", "1000"))
BASE_TS = 1_700_000_000_000


def xc_topic(client):
    return "xc-" + client


def timestamp(i):
    return BASE_TS + i


def observation(topic_name, offset, k, v, h, ts):
    """One consumed record as the runner compares them (JSON-friendly)."""
    hx = lambda b: None if b is None else bytes(b).hex()  # noqa: E731
    return [topic_name, offset, hx(k), hx(v), [[n, hx(x)] for n, x in h], ts]


# Sizes shared by the scenarios of every client.
GROUP_PARTITIONS, GROUP_FIRST, GROUP_SECOND = 6, 600, 300
TIMES_N, TIMES_STEP = 1000, 10      # offsets: record i has timestamp BASE_TS + i*TIMES_STEP
LARGE = 1 << 20                     # scenario large: accepted with raised limits
TOPIC_MAX_MESSAGE = 2 << 20         # the topic's max.message.bytes
TOO_LARGE = (5 << 20) // 2          # over the topic's limit, under the client's
RESTART_ACKS = 300                  # acknowledged records before and after the restart


def restart_wants_more(acked, after):
    """The restart scenarios' producing rule: until the restart is over, up
    to 3 x RESTART_ACKS (a cluster goes on acknowledging while one node
    restarts), then RESTART_ACKS more than when it was (after: None before)."""
    return acked < (RESTART_ACKS * 3 if after is None else after + RESTART_ACKS)
