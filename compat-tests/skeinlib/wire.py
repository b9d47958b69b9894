"""Kafka requests encoded by hand with struct, for testing the broker without a client.

Only what the tests need: ApiVersions v0-v3 and Metadata v1 and v9."""
import socket
import struct
import time

API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
             9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
             13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
             18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics", 21: "DeleteRecords",
             22: "InitProducerId", 32: "DescribeConfigs", 33: "AlterConfigs",
             35: "DescribeLogDirs", 37: "CreatePartitions", 42: "DeleteGroups",
             44: "IncrementalAlterConfigs", 47: "OffsetDelete", 60: "DescribeCluster"}


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header(api_key, version, corr, client_id="skein-compat", flexible=False):
    h = struct.pack(">hhi", api_key, version, corr) + string(client_id)
    if flexible:
        h += uvarint(0)  # no tagged fields
    return h


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def api_versions_request(version, corr):
    if version >= 3:
        body = compact_string("skein-compat") + compact_string("1.0") + uvarint(0)
        return frame(header(18, version, corr, flexible=True) + body)
    return frame(header(18, version, corr))


def metadata_request(version, corr, topics=None, auto_create=False):
    """v1 (classic), v9 or v12 (flexible). topics=None asks for all topics."""
    if version >= 9:
        topic_id = bytes(16) if version >= 10 else b""
        if topics is None:
            t = uvarint(0)
        else:
            t = uvarint(len(topics) + 1) + b"".join(topic_id + compact_string(n) + uvarint(0)
                                                   for n in topics)
        flags = (auto_create, False) if version >= 11 else (auto_create, False, False)
        body = t + struct.pack(">" + "?" * len(flags), *flags) + uvarint(0)
        return frame(header(3, version, corr, flexible=True) + body)
    if topics is None:
        t = struct.pack(">i", -1)
    else:
        t = struct.pack(">i", len(topics)) + b"".join(string(n) for n in topics)
    body = t
    if version >= 4:
        body += struct.pack(">?", auto_create)
    return frame(header(3, version, corr) + body)


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise DecodeError("need %d bytes at %d, have %d" % (n, self.p, len(self.d)))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def cstring(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def array(self, elem):
        n = self.i32()
        return None if n < 0 else [elem() for _ in range(n)]

    def carray(self, elem):
        n = self.uvarint()
        return None if n == 0 else [elem() for _ in range(n - 1)]

    def done(self):
        return self.p == len(self.d)


def decode_api_versions(body, version):
    """body: the response after the correlation id (ApiVersions responses always use
    header v0). Returns dict(error, apis={key: (min, max)}, throttle)."""
    r = Reader(body)
    err = r.i16()
    apis = {}
    if version >= 3:
        def one():
            k, lo, hi = r.i16(), r.i16(), r.i16()
            r.tags()
            apis[k] = (lo, hi)
        r.carray(one)
        throttle = r.i32()
        features = _api_versions_tags(r)
    else:
        def one():
            k, lo, hi = r.i16(), r.i16(), r.i16()
            apis[k] = (lo, hi)
        r.array(one)
        throttle = r.i32() if version >= 1 else 0
    if not r.done():
        raise DecodeError("%d bytes left after ApiVersions v%d body"
                          % (len(body) - r.p, version))
    out = {"error": err, "apis": apis, "throttle": throttle}
    if version >= 3:
        out.update(features)
    return out


def _api_versions_tags(r):
    """ApiVersions v3+ tagged fields: supported features {name: (min, max)} (tag 0),
    the finalized features' epoch (tag 1) and finalized features {name: (min, max)}
    (tag 2)."""
    out = {"supported_features": {}, "finalized_epoch": -1, "finalized_features": {}}

    def ranges(into):
        def one():
            name = r.cstring()
            into[name] = (r.i16(), r.i16())
            r.tags()
        r.carray(one)

    for _ in range(r.uvarint()):
        tag, size = r.uvarint(), r.uvarint()
        end = r.p + size
        if tag == 0:
            ranges(out["supported_features"])
        elif tag == 1:
            out["finalized_epoch"] = r.i64()
        elif tag == 2:
            ranges(out["finalized_features"])
        else:
            r.take(size)
        if r.p != end:
            raise DecodeError("ApiVersions tag %d: %d bytes declared, %d read"
                              % (tag, size, r.p - end + size))
    return out


def decode_metadata(body, version):
    """body: after the correlation id. v1, v9 or v12. Returns a dict."""
    r = Reader(body)
    out = {"cluster_id": None}
    if version >= 9:
        r.tags()  # response header v1
        out["throttle"] = r.i32()

        def broker():
            b = {"node_id": r.i32(), "host": r.cstring(), "port": r.i32(),
                 "rack": r.cstring()}
            r.tags()
            return b
        out["brokers"] = r.carray(broker)
        out["cluster_id"] = r.cstring()
        out["controller_id"] = r.i32()

        def part():
            p = {"error": r.i16(), "partition": r.i32(), "leader": r.i32(),
                 "leader_epoch": r.i32(), "replicas": r.carray(r.i32),
                 "isr": r.carray(r.i32), "offline": r.carray(r.i32)}
            r.tags()
            return p

        def topic():
            t = {"error": r.i16(), "name": r.cstring()}
            if version >= 10:
                t["topic_id"] = r.take(16)
            t.update({"internal": bool(r.i8()), "partitions": r.carray(part), "ops": r.i32()})
            r.tags()
            return t
        out["topics"] = r.carray(topic)
        if version <= 10:
            out["cluster_ops"] = r.i32()
        r.tags()
    else:
        out["brokers"] = r.array(lambda: {"node_id": r.i32(), "host": r.string(),
                                          "port": r.i32(), "rack": r.string()})
        out["controller_id"] = r.i32()

        def part():
            return {"error": r.i16(), "partition": r.i32(), "leader": r.i32(),
                    "replicas": r.array(r.i32), "isr": r.array(r.i32)}

        def topic():
            return {"error": r.i16(), "name": r.string(), "internal": bool(r.i8()),
                    "partitions": r.array(part)}
        out["topics"] = r.array(topic)
    if not r.done():
        raise DecodeError("%d bytes left after Metadata v%d body" % (len(body) - r.p, version))
    return out


class Closed(Exception):
    pass


class Conn:
    """A raw connection. recv_frame returns (correlation_id, body) or raises Closed."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)"
                                     % (n, len(self.buf)))
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed by the broker with %d bytes of a partial "
                             "frame buffered" % len(self.buf))
            self.buf += chunk

    def recv_frame(self, timeout=10):
        self._fill(4, timeout)
        n = struct.unpack(">i", self.buf[:4])[0]
        self._fill(4 + n, timeout)
        payload = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        corr = struct.unpack(">i", payload[:4])[0]
        return corr, payload[4:]

    def closed_by_peer(self, timeout=5):
        """True if the broker closes the connection within timeout (any bytes it
        sends first are discarded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(1 << 16)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def request(port, api, version, body, corr=1, timeout=10):
    """One request in a flexible version (request header v2) on its own
    connection: a Reader past the response header (v1)."""
    conn = Conn(port, timeout=timeout)
    try:
        conn.send(frame(header(api, version, corr, flexible=True) + body))
        got, resp = conn.recv_frame(timeout=timeout)
        assert got == corr, (got, corr)
        r = Reader(resp)
        r.tags()
        return r
    finally:
        conn.close()


def api_versions(port, version=3, timeout=10):
    c = Conn(port, timeout=timeout)
    try:
        c.send(api_versions_request(version, 1))
        corr, body = c.recv_frame(timeout)
        return decode_api_versions(body, version)
    finally:
        c.close()


def metadata(port, topics=None, auto_create=False, version=9, timeout=10):
    c = Conn(port, timeout=timeout)
    try:
        c.send(metadata_request(version, 7, topics, auto_create))
        corr, body = c.recv_frame(timeout)
        if corr != 7:
            raise DecodeError("Metadata response has correlation id %d, expected 7" % corr)
        return decode_metadata(body, version)
    finally:
        c.close()


def describe_cluster(port, endpoint_type=1, timeout=10):
    """DescribeCluster v1 asking for brokers (1) or controllers (2, KIP-919):
    a dict of error, message, endpoint_type, cluster_id, controller_id and
    nodes {id: (host, port)}."""
    body = b"\x00" + struct.pack(">b", endpoint_type) + uvarint(0)
    r = request(port, 60, 1, body, corr=11, timeout=timeout)
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.cstring(),
           "endpoint_type": r.i8(), "cluster_id": r.cstring(), "controller_id": r.i32()}

    def node():
        n = (r.i32(), r.cstring(), r.i32(), r.cstring())
        r.tags()
        return n
    out["nodes"] = {i: (h, p) for i, h, p, _ in r.carray(node)}
    return out


def create_topic(port, name, partitions=1, configs=None, timeout=10, replication_factor=1):
    """CreateTopics v2 for one topic; returns (error, message).
    For setting up a topic a client cannot create itself (kcat has no admin)."""
    body = (struct.pack(">i", 1) + string(name)
            + struct.pack(">ihi", partitions, replication_factor, 0))
    cfg = list((configs or {}).items())
    body += struct.pack(">i", len(cfg))
    for k, v in cfg:
        body += string(k) + string(v)
    body += struct.pack(">ib", 15000, 0)
    c = Conn(port, timeout=timeout)
    try:
        c.send(frame(header(19, 2, 9) + body))
        corr, resp = c.recv_frame(timeout)
        if corr != 9:
            raise DecodeError("CreateTopics response has correlation id %d, expected 9" % corr)
        # throttle_time_ms, [name, error_code, error_message]
        (count,) = struct.unpack_from(">i", resp, 4)
        if count != 1:
            raise DecodeError("CreateTopics response has %d topics, expected 1" % count)
        (n,) = struct.unpack_from(">h", resp, 8)
        pos = 10 + n
        (err, mlen) = struct.unpack_from(">hh", resp, pos)
        msg = None if mlen < 0 else resp[pos + 4:pos + 4 + mlen].decode(errors="replace")
        return err, msg
    finally:
        c.close()


def fetch_v11(port, topic, partition, offset, replica_id=-1, leader_epoch=-1, max_wait=0,
              rack="", version=11, timeout=10):
    """One Fetch of one partition by hand (v4-v11 share this layout up to
    the rack id, which v11 adds), as a follower (replica_id >= 0) or a
    consumer (-1). Returns a dict: error (the partition's), hw, log_start,
    preferred (the preferred read replica, v11; -1 before) and records (the
    record bytes)."""
    body = struct.pack(">iiiibii", replica_id, max_wait, 1, 1 << 20, 0, 0, -1)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iiqqi", partition, leader_epoch, offset, -1, 1 << 20)
    body += struct.pack(">i", 0)
    if version >= 11:
        body += string(rack)
    c = Conn(port, timeout=timeout)
    try:
        c.send(frame(header(1, version, 7) + body))
        corr, resp = c.recv_frame(timeout)
    finally:
        c.close()
    if corr != 7:
        raise DecodeError("Fetch response has correlation id %d, expected 7" % corr)
    r = Reader(resp)
    _, err, _, nt = struct.unpack(">ihii", r.take(14))
    if err or nt != 1:
        raise DecodeError("Fetch answered error %d with %d topics" % (err, nt))
    r.take(struct.unpack(">h", r.take(2))[0])
    if struct.unpack(">i", r.take(4))[0] != 1:
        raise DecodeError("Fetch answered other than one partition")
    _, perr, hw, _, log_start, naborted = struct.unpack(">ihqqqi", r.take(34))
    r.take(16 * max(naborted, 0))
    preferred = struct.unpack(">i", r.take(4))[0] if version >= 11 else -1
    n = struct.unpack(">i", r.take(4))[0]
    return {"error": perr, "hw": hw, "log_start": log_start, "preferred": preferred,
            "records": r.take(max(n, 0))}


def record_count(data):
    """Records in a run of v2 batches (the count is the batch's last field)."""
    n, off = 0, 0
    while off + 61 <= len(data):
        length = struct.unpack(">i", data[off + 8:off + 12])[0]
        n += struct.unpack(">i", data[off + 57:off + 61])[0]
        off += 12 + length
    return n
