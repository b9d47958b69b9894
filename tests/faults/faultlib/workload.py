"""Real clients against the cluster, every operation into the history.

- librdkafka (confluent-kafka-python) producers: enable.idempotence, acks=all,
  each producing unique values "<client>-<seq>" round-robin over partitions
  (with --acks 1: acks=1 without idempotence, one request in flight, no
  retries).
- a kafka-python producer: acks=all, retries=0 and one request in flight, so
  it neither duplicates nor reorders on its own (it has no idempotence).
- librdkafka consumers in one group, committing synchronously as they go,
  recording what the coordinator hands them on assignment and sampling each
  partition's high watermark.
Values carry a sequence number per producer, so the checker can tell order."""
import logging
import threading
import time
import uuid

from confluent_kafka import (TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "skf-data"
GROUP = "skf-group"
CLIENT_LOG = logging.getLogger("skf.clients")
CLIENT_LOG.propagate = False
# librdkafka debug contexts (harness --client-debug), into clients.log
RDKAFKA_DEBUG = None


def log_clients_to(path, debug=None):
    """librdkafka's own log lines (disconnects while the node is down are
    expected by the thousand) go to a file beside the history, with the
    producers' debug contexts if asked for."""
    global RDKAFKA_DEBUG
    RDKAFKA_DEBUG = debug
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    CLIENT_LOG.addHandler(handler)
    CLIENT_LOG.setLevel(logging.DEBUG if RDKAFKA_DEBUG else logging.INFO)
    for name in ("kafka", "kafka.conn", "kafka.client"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).propagate = False


def create_topic(bootstrap, partitions, configs, timeout=60, rf=1):
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": CLIENT_LOG})
    deadline = time.monotonic() + timeout
    while True:
        fs = admin.create_topics([NewTopic(TOPIC, partitions, rf, config=configs)],
                                 request_timeout=15)
        try:
            fs[TOPIC].result(20)
            return
        except KafkaException as e:
            if e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Worker(threading.Thread):
    def __init__(self, name, history, stop):
        super().__init__(name=name, daemon=True)
        self.client = name
        self.h = history
        self.stop = stop
        self.error = None
        self.last_ok = 0.0

    def run(self):
        try:
            self.work()
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.error = "%s: %r" % (self.client, e)
            self.h.record(type="client-error", client=self.client, error=repr(e))


class ProducerWorker(Worker):
    """A producer of unique values at a rate over the given partitions."""

    def __init__(self, name, history, stop, bootstrap, partitions, rate, acks="all"):
        super().__init__(name, history, stop)
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.rate = rate
        self.acks = acks
        self.seq = 0


class RdkafkaProducer(ProducerWorker):
    """Idempotent acks=all producer; a fatal idempotence error (possible when
    the broker lost acknowledged state) is recorded and a new producer made."""

    def make(self):
        # message.timeout.ms above the longest recovery (a killed majority
        # waits out its old broker sessions, ~9 s, before it rejoins the
        # ISR): when a message times out, librdkafka bumps its producer
        # epoch and sends the messages queued behind it again under new
        # sequence numbers, and one of them that a leader had already
        # written before it died is then written twice; no broker can tell
        # (Kafka neither: sequences start over with each epoch). The
        # default is 300 s; 20 s gave such a duplicate in a 100-round run.
        conf = {"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                "logger": CLIENT_LOG,
                "acks": "all", "linger.ms": 2, "message.timeout.ms": 60000,
                "request.timeout.ms": 5000, "retry.backoff.ms": 100,
                "socket.timeout.ms": 5000, "reconnect.backoff.max.ms": 500,
                "topic.metadata.refresh.interval.ms": 2000}
        if RDKAFKA_DEBUG:
            conf["debug"] = RDKAFKA_DEBUG
        if self.acks == "1":
            # idempotence needs acks=all; without it, one request in flight
            # and no retries keep each producer's order and add no duplicate
            conf.update({"enable.idempotence": False, "acks": "1", "retries": 0,
                         "max.in.flight.requests.per.connection": 1})
        return Producer(conf)

    def work(self):
        p = self.make()
        interval = 1.0 / self.rate
        next_t = time.monotonic()
        pending = []
        while not self.stop.is_set():
            value = "%s-%d" % (self.client, self.seq)
            part = self.seq % self.partitions
            t0 = self.h.now()
            cb = self.callback(value, self.seq, part, t0, pending)
            try:
                p.produce(TOPIC, value=value.encode(), partition=part, on_delivery=cb)
                self.seq += 1
            except BufferError:
                self.h.record(type="produce", client=self.client, value=value, seq=self.seq,
                              partition=part, status="failed", error="local queue full", t0=t0)
                self.seq += 1
            except KafkaException as e:
                # a fatal idempotence error (the broker forgot acknowledged
                # sequences): the producer refuses everything; start anew
                self.h.record(type="produce", client=self.client, value=value, seq=self.seq,
                              partition=part, status="failed", error=e.args[0].name(), t0=t0)
                self.seq += 1
                if e.args[0].fatal() and not pending:
                    pending.append("fatal")
            try:
                p.poll(0)
                if pending and pending[0] == "fatal":
                    raise KafkaException(KafkaError(KafkaError._FATAL, "seen in a report",
                                                    fatal=True))
                next_t += interval
                delay = next_t - time.monotonic()
                if delay > 0:
                    p.poll(delay)
                else:
                    next_t = time.monotonic()
            except KafkaException as e:
                if not e.args[0].fatal():
                    raise
                # what the old producer still held gets no report: those
                # values count as unacknowledged wherever they turn up
                pending.clear()
                self.h.record(type="client-note", client=self.client,
                              note="fatal idempotence error (%s): new producer" % e.args[0].str())
                p = self.make()
        try:
            p.flush(40)
        except KafkaException:
            pass
        # whatever is still queued was never answered
        left = len(p)
        if left:
            self.h.record(type="client-note", client=self.client,
                          note="%d messages unanswered at the end" % left)

    def callback(self, value, seq, part, t0, pending):
        def cb(err, msg):
            t1 = self.h.now()
            if err is None:
                self.last_ok = time.monotonic()
                kind, ts = msg.timestamp()
                extra = {"append_ts": ts} if kind == TIMESTAMP_LOG_APPEND_TIME else {}
                self.h.record(type="produce", client=self.client, value=value, seq=seq,
                              partition=msg.partition(), offset=msg.offset(), status="ok",
                              t0=t0, t=t1, **extra)
                return
            # A timeout or any broker error may follow a write that happened.
            status = "failed" if err.code() in (KafkaError._QUEUE_FULL,
                                                KafkaError.MSG_SIZE_TOO_LARGE) else "unknown"
            # without idempotence the request given up on may still land
            # after later ones
            late = {"may_land_late": True} if status == "unknown" and self.acks == "1" else {}
            self.h.record(type="produce", client=self.client, value=value, seq=seq,
                          partition=part, status=status, error=err.name(), t0=t0, t=t1,
                          **late)
            if err.fatal() and not pending:
                pending.append("fatal")
        return cb


class KafkaPythonProducer(ProducerWorker):
    def work(self):
        from kafka import KafkaProducer
        from kafka.errors import KafkaTimeoutError
        p = None
        interval = 1.0 / self.rate
        while not self.stop.is_set():
            if p is None:
                try:
                    p = KafkaProducer(bootstrap_servers=self.bootstrap,
                                      acks="all" if self.acks == "all" else 1, retries=0,
                                      max_in_flight_requests_per_connection=1,
                                      request_timeout_ms=5000, max_block_ms=5000,
                                      reconnect_backoff_max_ms=500)
                except Exception:  # noqa: BLE001 - the broker may be down right now
                    time.sleep(0.5)
                    continue
            value = "%s-%d" % (self.client, self.seq)
            part = self.seq % self.partitions
            t0 = self.h.now()
            self.seq += 1
            try:
                fut = p.send(TOPIC, value=value.encode(), partition=part)
            except KafkaTimeoutError as e:
                # metadata not available: nothing was sent
                self.h.record(type="produce", client=self.client, value=value,
                              seq=self.seq - 1, partition=part, status="failed",
                              error=type(e).__name__, t0=t0)
                continue
            try:
                md = fut.get(timeout=15)
                self.last_ok = time.monotonic()
                self.h.record(type="produce", client=self.client, value=value,
                              seq=self.seq - 1, partition=md.partition, offset=md.offset,
                              status="ok", t0=t0)
            except Exception as e:  # noqa: BLE001 - any error leaves the write unknown
                # Without idempotence nothing stops a request the client gave
                # up on (its bytes still in a socket's queue behind a cut
                # network) from landing after later writes: late is allowed.
                self.h.record(type="produce", client=self.client, value=value,
                              seq=self.seq - 1, partition=part, status="unknown",
                              error=type(e).__name__, t0=t0, may_land_late=True)
            time.sleep(interval)
        if p is not None:
            p.close(5)


class GroupConsumer(Worker):
    """A group member committing synchronously every few records."""

    def __init__(self, name, history, stop, bootstrap, partitions):
        super().__init__(name, history, stop)
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.assigned = []

    def on_assign(self, c, parts):
        self.assigned = [tp.partition for tp in parts]
        t0 = self.h.now()
        try:
            for tp in c.committed(parts, timeout=10):
                self.h.record(type="committed", client=self.client, group=GROUP,
                              partition=tp.partition, offset=tp.offset, t0=t0)
        except KafkaException as e:
            self.h.record(type="committed", client=self.client, group=GROUP,
                          status="unknown", error=str(e), t0=t0)

    def on_revoke(self, c, parts):
        self.assigned = []
        self.commit(c)

    def commit(self, c):
        t0 = self.h.now()
        try:
            res = c.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                self.h.record(type="commit", client=self.client, group=GROUP,
                              status="unknown", error=e.args[0].name(), t0=t0)
            return
        for tp in res or []:
            self.h.record(type="commit", client=self.client, group=GROUP,
                          partition=tp.partition, offset=tp.offset,
                          status="ok" if tp.error is None else "unknown", t0=t0)

    def work(self):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": GROUP, "logger": CLIENT_LOG,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                      "socket.timeout.ms": 5000, "reconnect.backoff.max.ms": 500,
                      "topic.metadata.refresh.interval.ms": 2000})
        c.subscribe([TOPIC], on_assign=self.on_assign, on_revoke=self.on_revoke)
        since_commit, last_commit, last_hw, last_committed = 0, time.monotonic(), 0.0, 0.0
        while not self.stop.is_set():
            msgs = c.consume(200, 0.2)
            for m in msgs:
                if m.error():
                    continue
                self.h.record(type="read", client=self.client, partition=m.partition(),
                              offset=m.offset(), value=m.value().decode())
                since_commit += 1
            if since_commit >= 50 or (since_commit and time.monotonic() - last_commit > 1):
                self.commit(c)
                since_commit, last_commit = 0, time.monotonic()
            if time.monotonic() - last_hw > 0.5:
                last_hw = time.monotonic()
                self.sample_hw(c)
            if time.monotonic() - last_committed > 2:
                last_committed = time.monotonic()
                self.sample_committed(c)
        self.commit(c)
        c.close()

    def sample_committed(self, c):
        """What the coordinator says is committed, now and then: after a
        restart it must not have gone back (checked against the commits)."""
        parts = [TopicPartition(TOPIC, p) for p in self.assigned]
        if not parts:
            return
        t0 = self.h.now()
        try:
            got = c.committed(parts, timeout=5)
        except KafkaException:
            return
        for tp in got:
            if tp.error is None:
                self.h.record(type="committed", client=self.client, group=GROUP,
                              partition=tp.partition, offset=tp.offset, t0=t0)

    def sample_hw(self, c):
        for p in list(self.assigned):
            t0 = self.h.now()
            try:
                _, high = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=2,
                                                  cached=False)
            except KafkaException:
                continue
            self.h.record(type="hw", client=self.client, partition=p, high=high, t0=t0)


def final_read(bootstrap, partitions, history, timeout=180):
    """Every partition read from its start to its high watermark by a fresh
    consumer outside the group: the state the checker compares with."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "skf-final-" + uuid.uuid4().hex,
                  "logger": CLIENT_LOG,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    deadline = time.monotonic() + timeout
    highs = {}
    for p in range(partitions):
        while True:
            try:
                low, high = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
                highs[p] = high
                history.record(type="final-hw", partition=p, low=low, high=high)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    pos = {p: 0 for p in range(partitions)}
    while any(pos[p] < highs[p] for p in pos):
        if time.monotonic() > deadline:
            history.record(type="final-incomplete", positions=pos, highs=highs)
            raise RuntimeError("final read incomplete after %ds: %s of %s" % (timeout, pos, highs))
        for m in c.consume(500, 1.0):
            if m.error():
                continue
            history.record(type="final", partition=m.partition(), offset=m.offset(),
                           value=m.value().decode())
            pos[m.partition()] = m.offset() + 1
    c.close()
    return highs
