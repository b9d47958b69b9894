#!/usr/bin/python3
"""Raw-socket tests of the Skein broker process: pipelining, hostile input, limits,
signals, restarts and configuration errors. Requests are encoded by hand.

  /usr/bin/python3 compat-tests/broker_test.py [--skein PATH] [-k NAME]
"""
import argparse
import os
import random
import signal
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker, default_skein  # noqa: E402


class Failure(Exception):
    pass


def expect(cond, what, expected, got):
    if not cond:
        raise Failure("%s: expected %s, got %s" % (what, expected, got))


def served(port, what):
    """A fresh Metadata v1 request on a new connection gets a well-formed answer."""
    try:
        c = wire.Conn(port, timeout=5)
        try:
            c.send(wire.metadata_request(1, 4242))
            corr, body = c.recv_frame(5)
        finally:
            c.close()
        md = wire.decode_metadata(body, 1)
    except Exception as e:
        raise Failure("after %s: a new connection's Metadata v1 request was not served: %s: %s"
                      % (what, type(e).__name__, e))
    expect(corr == 4242 and md["controller_id"] == 1, "after %s: Metadata v1" % what,
           "correlation 4242, controller 1", "correlation %d, controller %r"
           % (corr, md["controller_id"]))


def still_served(conn, what, corr=[1000]):
    """The long-lived well-behaved connection still gets answers."""
    corr[0] += 1
    try:
        conn.send(wire.metadata_request(9, corr[0]))
        got, body = conn.recv_frame(5)
        wire.decode_metadata(body, 9)
    except Exception as e:
        raise Failure("after %s: the well-behaved connection's Metadata v9 request was not "
                      "served: %s: %s" % (what, type(e).__name__, e))
    expect(got == corr[0], "after %s: correlation id" % what, corr[0], got)


# --- tests; each gets a running broker (or starts its own) ---------------------------

def test_pipelined_api_versions(b):
    n = 1000
    c = wire.Conn(b.port)
    try:
        c.send(b"".join(wire.api_versions_request(i % 4, i) for i in range(n)))
        for i in range(n):
            try:
                corr, body = c.recv_frame(10)
            except Exception as e:
                raise Failure("response %d of %d: %s: %s" % (i, n, type(e).__name__, e))
            expect(corr == i, "correlation id of response %d" % i, i, corr)
            r = wire.decode_api_versions(body, i % 4)
            expect(r["error"] == 0 and 18 in r["apis"], "ApiVersions v%d response %d"
                   % (i % 4, i), "error 0 listing key 18", r)
    finally:
        c.close()


def bad_input_cases():
    rnd = random.Random(20240611)
    # A valid ApiVersions v0 header with an api key nobody has.
    unknown_key = wire.frame(wire.header(999, 0, 5))
    metadata_9999 = wire.frame(wire.header(3, 9999, 6) + struct.pack(">i", -1))
    garbage = bytes(rnd.getrandbits(8) for _ in range(64 * 1024))
    frame_garbage = struct.pack(">i", 4092) + bytes(rnd.getrandbits(8) for _ in range(4092))
    return [
        # name, bytes to send, must the broker close the connection?
        ("random bytes", garbage, False),
        ("a frame of random bytes", frame_garbage, True),
        ("a frame announcing 2 GiB", struct.pack(">I", 0x80000000) + b"x" * 1024, True),
        ("a frame announcing 2 GiB - 1", struct.pack(">i", 0x7FFFFFFF) + b"x" * 1024, True),
        ("a negative frame size", struct.pack(">i", -5) + b"x" * 16, True),
        ("a frame over socket.request.max.bytes", struct.pack(">i", 1048577) + b"x" * 65536,
         True),
        ("an unknown api key (999)", unknown_key, True),
        ("Metadata at version 9999", metadata_9999, True),
    ]


def test_bad_input(b):
    good = wire.Conn(b.port)
    try:
        still_served(good, "connecting")
        for name, data, must_close in bad_input_cases():
            c = wire.Conn(b.port)
            try:
                try:
                    c.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # closed while we were still sending: refused early
                if must_close:
                    expect(c.closed_by_peer(5), "after %s: the connection" % name,
                           "closed by the broker within 5 s", "still open")
            finally:
                c.close()
            still_served(good, name)
            served(b.port, name)
        # A truncated frame, then the client goes away.
        c = wire.Conn(b.port)
        c.send(struct.pack(">i", 100) + b"y" * 50)
        c.close()
        time.sleep(0.1)
        still_served(good, "a truncated frame then close")
        served(b.port, "a truncated frame then close")
    finally:
        good.close()


def test_trailing_bytes_ignored(b):
    """librdkafka 2.3+ sends Metadata v12 with 3 zero bytes after the body: Kafka
    parses the body and ignores the rest. A body one byte short is still refused."""
    cases = [("Metadata v12 (all topics) + 3 zero bytes", wire.metadata_request(12, 7), 12,
              b"\0\0\0"),
             ("Metadata v9 (all topics) + 5 bytes", wire.metadata_request(9, 7), 9, b"junk!"),
             ("Metadata v1 + 1 byte", wire.metadata_request(1, 7), 1, b"\x01")]
    for name, req, version, extra in cases:
        c = wire.Conn(b.port)
        try:
            c.send(wire.frame(req[4:] + extra))
            corr, body = c.recv_frame(5)
            md = wire.decode_metadata(body, version)
            expect(corr == 7 and md["controller_id"] == 1, name, "an answer to correlation 7",
                   "correlation %d" % corr)
            c.send(wire.frame(wire.api_versions_request(3, 8)[4:] + b"\0"))
            corr, body = c.recv_frame(5)
            expect(corr == 8 and wire.decode_api_versions(body, 3)["error"] == 0,
                   name + ", then ApiVersions v3 + 1 byte on the same connection",
                   "correlation 8, error 0", "correlation %d" % corr)
        finally:
            c.close()
    # A body cut short: the last tagged-field count is missing.
    short = wire.metadata_request(12, 9)
    c = wire.Conn(b.port)
    try:
        c.send(wire.frame(short[4:-1]))
        expect(c.closed_by_peer(5), "Metadata v12 one byte short", "the connection closed",
               "still open")
    finally:
        c.close()
    served(b.port, "trailing and missing bytes")


def test_features(b):
    """Kafka 3.9's features with the levels Skein implements; metadata.version finalized."""
    c = wire.Conn(b.port)
    try:
        c.send(wire.api_versions_request(3, 5))
        corr, body = c.recv_frame(5)
    finally:
        c.close()
    r = wire.decode_api_versions(body, 3)
    want = {"metadata.version": (1, 21), "kraft.version": (0, 1), "group.version": (0, 0),
            "transaction.version": (0, 0)}
    expect(r["supported_features"] == want, "ApiVersions v3 supported features", want,
           r["supported_features"])
    expect(r["finalized_features"] == {"metadata.version": (21, 21)},
           "ApiVersions v3 finalized features", {"metadata.version": (21, 21)},
           r["finalized_features"])
    expect(r["finalized_epoch"] >= 0, "finalized features epoch", ">= 0", r["finalized_epoch"])


def test_api_versions_unsupported_version(b):
    c = wire.Conn(b.port)
    try:
        c.send(wire.frame(wire.header(18, 9999, 77)))
        corr, body = c.recv_frame(5)
        expect(corr == 77, "correlation id", 77, corr)
        r = wire.decode_api_versions(body, 0)
        expect(r["error"] == 35, "ApiVersions v9999 error code", "35 (UNSUPPORTED_VERSION)",
               r["error"])
        expect(r["apis"].get(18, (None, None))[0] == 0, "ApiVersions v9999 list",
               "a list with ApiVersions from v0", r["apis"])
        # the connection stays usable
        c.send(wire.api_versions_request(3, 78))
        corr, body = c.recv_frame(5)
        expect(corr == 78, "correlation id after the v9999 request", 78, corr)
    finally:
        c.close()


def test_connection_flood(b):
    limit, n = 50, 100
    conns, served_n, closed_n, silent_n = [], 0, 0, 0
    try:
        for i in range(n):
            try:
                conns.append(wire.Conn(b.port, timeout=5))
            except OSError:
                closed_n += 1
        time.sleep(0.3)
        for i, c in enumerate(conns):
            try:
                c.send(wire.api_versions_request(0, i))
                c.recv_frame(2)
                served_n += 1
            except (wire.Closed, BrokenPipeError, ConnectionResetError):
                closed_n += 1
            except socket.timeout:
                silent_n += 1
        expect(served_n <= limit, "connections served with max.connections=%d" % limit,
               "at most %d" % limit, "%d served, %d closed, %d silent" % (served_n, closed_n,
                                                                        silent_n))
        expect(served_n >= limit - 2, "connections served with max.connections=%d" % limit,
               "about %d" % limit, "%d served, %d closed, %d silent" % (served_n, closed_n,
                                                                      silent_n))
        expect(closed_n == n - served_n, "excess connections", "%d closed" % (n - served_n),
               "%d closed, %d left open but silent" % (closed_n, silent_n))
    finally:
        for c in conns:
            c.close()
    time.sleep(0.5)
    served(b.port, "a flood of %d connections" % n)


SASL_CLIENT = r"""
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "security.protocol": "SASL_PLAINTEXT",
              "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p"})
try:
    p.list_topics(timeout=3)
except Exception:
    pass
"""


def test_sasl_client_on_plaintext(b):
    """A client set up for SASL gets Kafka's answer on a PLAINTEXT listener:
    ILLEGAL_SASL_STATE to its SaslHandshake, and the connection goes on serving."""
    import subprocess
    out = subprocess.run(["/usr/bin/python3", "-c", SASL_CLIENT, b.bootstrap],
                         capture_output=True, timeout=60).stderr.decode()
    expect("Request not valid in current SASL state" in out,
           "librdkafka's SASL handshake on a PLAINTEXT listener",
           "ILLEGAL_SASL_STATE", out.strip().splitlines()[-1:] or out)
    served(b.port, "after a SASL handshake")


def test_sigterm_during_pipeline(skein):
    b = Broker(skein).start()
    try:
        c = wire.Conn(b.port)
        received, errors = [], []
        stop = threading.Event()
        sent = [0]

        def reader():
            try:
                while True:
                    corr, body = c.recv_frame(20)
                    received.append(corr)
            except wire.Closed as e:
                if "partial" in str(e) and not str(e).startswith(
                        "connection closed by the broker with 0 bytes"):
                    errors.append("a response was cut short: %s" % e)
            except Exception as e:
                errors.append("%s: %s" % (type(e).__name__, e))

        def writer():
            i = 0
            try:
                while not stop.is_set():
                    c.send(b"".join(wire.api_versions_request(i % 4, i + j) if j % 2 else
                                    wire.metadata_request(1, i + j) for j in range(50)))
                    i += 50
                    sent[0] = i
                    time.sleep(0.002)
            except OSError:
                pass
        rt = threading.Thread(target=reader, daemon=True)
        wt = threading.Thread(target=writer, daemon=True)
        rt.start()
        wt.start()
        time.sleep(0.7)
        b.signal(signal.SIGTERM)
        rc = b.wait(20)
        stop.set()
        wt.join(5)
        rt.join(25)
        c.close()
        expect(rc == 0, "exit status after SIGTERM under load", 0, "%r; stderr:\n%s"
               % (rc, b.tail()))
        expect(not errors, "the response stream", "complete frames", errors)
        expect(received == list(range(len(received))), "correlation ids of responses",
               "0..n-1 in order with no gaps", "%d responses, first mismatch at %s" % (
                   len(received), next((i for i, v in enumerate(received) if v != i), None)))
        expect(len(received) > 0, "responses before SIGTERM", "some", 0)
        print("    %d requests sent, %d answered before exit" % (sent[0], len(received)))
    finally:
        b.cleanup()


def identity(port):
    md = wire.metadata(port, topics=["kept"], auto_create=True)
    return (md["cluster_id"], [(x["node_id"], x["port"]) for x in md["brokers"]],
            md["controller_id"], [(t["name"], t["error"], len(t["partitions"] or []))
                                  for t in md["topics"]])


def test_restart_keeps_identity(skein):
    b = Broker(skein).start()
    data = b.data_dir
    try:
        cid, brokers, ctrl, topics = identity(b.port)
        expect(cid and brokers == [(1, b.port)] and ctrl == 1 and topics == [("kept", 0, 1)],
               "first start", "a cluster id, broker 1, controller 1, topic kept/1 partition",
               (cid, brokers, ctrl, topics))
        rc = b.stop()
        expect(rc == 0, "exit status after SIGTERM", 0, rc)
        for how in ("SIGTERM", "SIGKILL"):
            b2 = Broker(skein, data_dir=data).start()
            try:
                got = identity(b2.port)
                expect(got == (cid, [(1, b2.port)], 1, topics), "after a restart following "
                       + how, (cid, [(1, b2.port)], 1, topics), got)
                if how == "SIGTERM":
                    b2.kill()
                else:
                    expect(b2.stop() == 0, "exit status after SIGTERM", 0, b2.proc.returncode)
            finally:
                b2.kill()
        b3 = Broker(skein, data_dir=data).start()
        try:
            got = identity(b3.port)
            expect(got[0] == cid, "cluster id after a restart following SIGKILL", cid, got[0])
        finally:
            b3.stop()
    finally:
        b.own_dir = True
        b.cleanup()


def refused_start(b, what, needle):
    """b must exit non-zero within 30 s, saying needle."""
    b.launch()
    rc = b.wait(30)
    if rc is None:
        b.kill()
    expect(rc not in (None, 0), what + ": exit status", "non-zero within 30 s", rc)
    expect(needle in b.stderr_text(), what + ": the reason", repr(needle), b.tail(5))


def test_second_broker_same_port(skein):
    """Kafka fails start-up on an address in use; the kernel must not split one
    port's connections between two brokers."""
    a = Broker(skein).start()
    try:
        b = Broker(skein, port=a.port)
        try:
            refused_start(b, "a second broker on port %d" % a.port, "Address already in use")
        finally:
            b.cleanup()
        for i in range(20):  # every new connection still reaches the first broker
            served(a.port, "a second broker tried port %d (connection %d)" % (a.port, i))
        expect(a.stop() == 0, "first broker's exit status after SIGTERM", 0, a.proc.returncode)
    finally:
        a.cleanup()


def test_restart_same_port_after_kill(skein):
    """The listener of a broker killed with -9 is released by the kernel a moment
    after the process is gone; the restart on the same port waits for it."""
    b = Broker(skein).start()
    try:
        for i in range(5):
            conns = [wire.Conn(b.port) for _ in range(3)]
            b.kill()
            b.start()
            served(b.port, "SIGKILL and an immediate restart on the same port (%d)" % i)
            for c in conns:
                c.close()
        expect(b.stop() == 0, "exit status after SIGTERM", 0, b.proc.returncode)
    finally:
        b.cleanup()


def test_second_broker_same_dirs(skein):
    """The `.lock` in each log dir and in the metadata dir keeps a second process out."""
    lock_msg = "Failed to acquire lock on file .lock in "
    a = Broker(skein).start()
    logs = os.path.join(a.data_dir, "logs")
    meta_dir = tempfile.mkdtemp(prefix="skein-meta-")
    a2 = None
    try:
        b = Broker(skein, data_dir=a.data_dir)
        try:
            refused_start(b, "a second broker on the same log.dirs", lock_msg + logs)
        finally:
            b.cleanup()
        served(a.port, "a second broker tried its log.dirs")
        # Another log dir, but the first broker's log dir as metadata.log.dir.
        b = Broker(skein, overrides=["metadata.log.dir=" + logs])
        try:
            refused_start(b, "a second broker with the first one's log dir as its metadata "
                          "dir", lock_msg + logs)
        finally:
            b.cleanup()
        # A broker with its own metadata dir holds that one too.
        a2 = Broker(skein, overrides=["metadata.log.dir=" + meta_dir]).start()
        b = Broker(skein, overrides=["log.dirs=" + os.path.join(meta_dir, "x"),
                                     "metadata.log.dir=" + meta_dir])
        try:
            refused_start(b, "a second broker on another broker's metadata.log.dir",
                          lock_msg + meta_dir)
        finally:
            b.cleanup()
        served(a.port, "second brokers were refused")
        served(a2.port, "second brokers were refused")
        expect(a.stop() == 0, "first broker's exit status after SIGTERM", 0, a.proc.returncode)
        # The lock dies with its holder: a restart after SIGKILL takes it again.
        a2.kill()
        a2 = Broker(skein, data_dir=a2.data_dir,
                    overrides=["metadata.log.dir=" + meta_dir]).start()
        a2.own_dir = True
        served(a2.port, "a restart after SIGKILL")
    finally:
        a.cleanup()
        if a2:
            a2.cleanup()
        shutil.rmtree(meta_dir, ignore_errors=True)


def test_advertised_follows_listeners(skein):
    """Without advertised.listeners, clients are given the listener's address."""
    b = Broker(skein, advertise=False).start()
    try:
        md = wire.metadata(b.port)
        got = [(x["node_id"], x["host"], x["port"]) for x in md["brokers"]]
        expect(got == [(1, "127.0.0.1", b.port)], "brokers in Metadata",
               [(1, "127.0.0.1", b.port)], got)
    finally:
        b.stop()
        b.cleanup()


def test_version_and_help(skein):
    out = subprocess.run([skein, "--version"], capture_output=True, text=True, timeout=10)
    expect(out.returncode == 0 and out.stdout.startswith("skein ") and "commit " in out.stdout,
           "skein --version", "exit 0, 'skein <version> (commit <id>)'",
           (out.returncode, out.stdout, out.stderr))
    out = subprocess.run([skein, "--help"], capture_output=True, text=True, timeout=10)
    expect(out.returncode == 0 and "--override" in out.stdout and "server.properties" in
           out.stdout, "skein --help", "exit 0, the options and where keys are documented",
           (out.returncode, out.stdout, out.stderr))
    out = subprocess.run([skein, "--bogus"], capture_output=True, text=True, timeout=10)
    expect(out.returncode == 2 and "usage" in out.stderr, "skein --bogus",
           "exit 2 with the usage", (out.returncode, out.stderr))


def test_bad_config_value(skein):
    b = Broker(skein, overrides=["num.partitions=abc"])
    try:
        b.launch()
        rc = b.wait(10)
        text = b.stderr_text()
        expect(rc not in (None, 0), "exit status with num.partitions=abc", "non-zero",
               "%r; stderr:\n%s" % (rc, text))
        expect("num.partitions" in text, "the error message", "to name num.partitions", text)
        expect("Skein started" not in text and "listening on" not in text,
               "start-up with a bad value", "no listening socket", text)
    finally:
        b.cleanup()


def test_unknown_key_warns(skein):
    b = Broker(skein, overrides=["no.such.setting=1"])
    try:
        b.start()
        served(b.port, "starting with an unknown key")
        text = b.stderr_text()
        expect("no.such.setting" in text, "stderr with an unknown key", "a warning naming it",
               text)
        rc = b.stop()
        expect(rc == 0, "exit status after SIGTERM", 0, rc)
    finally:
        b.cleanup()


SHARED = [test_pipelined_api_versions, test_trailing_bytes_ignored, test_features,
          test_bad_input,
          test_api_versions_unsupported_version, test_sasl_client_on_plaintext,
          test_connection_flood]
OWN = [test_sigterm_during_pipeline, test_restart_keeps_identity, test_second_broker_same_port,
       test_restart_same_port_after_kill,
       test_second_broker_same_dirs, test_advertised_follows_listeners, test_version_and_help,
       test_bad_config_value,
       test_unknown_key_warns]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skein", default=default_skein())
    ap.add_argument("-k", dest="pattern", default="")
    args = ap.parse_args()
    skein = os.path.abspath(args.skein)
    if not os.access(skein, os.X_OK):
        print("broker binary %s is missing (meson setup build && ninja -C build)" % skein)
        return 2
    results = []

    def run(t, arg):
        t0 = time.monotonic()
        try:
            t(arg)
        except Failure as e:
            results.append((t.__name__, False))
            print("FAIL %s (%.1fs)\n    %s" % (t.__name__, time.monotonic() - t0, e))
        except Exception as e:
            results.append((t.__name__, False))
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
            traceback.print_exc()
        else:
            results.append((t.__name__, True))
            print("pass %s (%.1fs)" % (t.__name__, time.monotonic() - t0), flush=True)

    shared = [t for t in SHARED if args.pattern in t.__name__]
    if shared:
        b = Broker(skein, overrides=["socket.request.max.bytes=1048576", "max.connections=50"])
        b.start()
        try:
            for t in shared:
                run(t, b)
            rc = b.stop()
            ok = rc == 0
            results.append(("shared broker exits 0 after SIGTERM", ok))
            if not ok:
                print("FAIL shared broker exit status after SIGTERM: expected 0, got %r\n%s"
                      % (rc, b.tail()))
            report = b.sanitizer_report()
            if report:
                results.append(("sanitizer", False))
                print("FAIL sanitizer report:\n" + report[-4000:])
        finally:
            b.cleanup()
    for t in OWN:
        if args.pattern in t.__name__:
            run(t, skein)
    failed = [n for n, ok in results if not ok]
    print("%d passed, %d failed%s" % (len(results) - len(failed), len(failed),
                                      (": " + ", ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
