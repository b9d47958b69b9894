"""Reading a node's KRaft metadata log (`__cluster_metadata-0`) from its
segment files, as Kafka's kafka-dump-log --cluster-metadata-decoder would:
record batches (magic 2, uncompressed), each record's value framed as
Kafka's MetadataRecordSerde frames it (frame version, record type, record
version, then the record, flexible). Only what tests look at is decoded."""
import glob
import os
import struct

PARTITION_CHANGE_RECORD = 5
CONTROL_BATCH = 0x20
BATCH_HEADER = 61  # through the record count


def _uvarint(buf, i):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7


def _varint(buf, i):
    v, i = _uvarint(buf, i)
    return (v >> 1) ^ -(v & 1), i


def _batch_records(data, pos, base, count):
    i = pos + BATCH_HEADER
    for _ in range(count):
        length, i = _varint(data, i)
        end = i + length
        i += 1  # attributes
        _, i = _varint(data, i)  # timestamp delta
        delta, i = _varint(data, i)
        klen, i = _varint(data, i)
        i += max(klen, 0)
        vlen, i = _varint(data, i)
        yield base + delta, (data[i:i + vlen] if vlen >= 0 else None)
        i = end


def records(log_dir):
    """(offset, value) of every data record in log_dir's segments, in order;
    control batches are left out."""
    for path in sorted(glob.glob(os.path.join(log_dir, "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + BATCH_HEADER <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            end = pos + 12 + length
            if length < BATCH_HEADER - 12 or end > len(data):
                break  # a torn tail
            attrs = struct.unpack_from(">h", data, pos + 21)[0]
            count = struct.unpack_from(">i", data, pos + 57)[0]
            assert attrs & 0x7 == 0, "%s: compressed metadata batch at %d" % (path, base)
            if not attrs & CONTROL_BATCH:
                yield from _batch_records(data, pos, base, count)
            pos = end


def _int32_array(buf, i):
    n, i = _uvarint(buf, i)
    if n == 0:
        return None, i
    return list(struct.unpack_from(">%di" % (n - 1), buf, i)), i + 4 * (n - 1)


def partition_change(value):
    """A PartitionChangeRecord's fields as a dict (absent tagged fields as
    Kafka's defaults: leader -2, isr None, leader_recovery_state -1), or
    None for any other record."""
    _, i = _uvarint(value, 0)  # frame version
    kind, i = _uvarint(value, i)
    if kind != PARTITION_CHANGE_RECORD:
        return None
    _, i = _uvarint(value, i)  # record version
    partition, topic_id = struct.unpack_from(">i16s", value, i)
    i += 20
    out = {"partition": partition, "topic_id": topic_id, "leader": -2, "isr": None,
           "leader_recovery_state": -1}
    ntags, i = _uvarint(value, i)
    for _ in range(ntags):
        tag, i = _uvarint(value, i)
        size, i = _uvarint(value, i)
        if tag == 0:
            out["isr"], _ = _int32_array(value, i)
        elif tag == 1:
            out["leader"] = struct.unpack_from(">i", value, i)[0]
        elif tag == 5:
            out["leader_recovery_state"] = struct.unpack_from(">b", value, i)[0]
        i += size
    return out


def partition_changes(log_dir, topic_id):
    """Every PartitionChangeRecord of the topic in the log, with its offset."""
    out = []
    for offset, value in records(log_dir):
        rec = partition_change(value) if value else None
        if rec and rec["topic_id"] == topic_id:
            rec["offset"] = offset
            out.append(rec)
    return out
