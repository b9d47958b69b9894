"""Starting and stopping one Skein broker process on a free loopback port.

A test gets its own port (bound to 127.0.0.1:0 to find one) and its own data
folder, and stops the broker by PID."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import shutil

READY = "Skein started"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


_GIVEN = set()
_GIVEN_LOCK = threading.Lock()


def free_port():
    """A loopback port free now and never handed out before in this process:
    brokers started from several threads (run.py --jobs) never share one."""
    with _GIVEN_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _GIVEN:
                _GIVEN.add(port)
                return port


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_skein():
    env = os.environ.get("SKEIN_BIN")
    if env:
        return env
    return os.path.join(repo_root(), "build", "src", "skein")


class BrokerError(Exception):
    pass


class Broker:
    """One broker process. overrides: extra key=value strings."""

    def __init__(self, skein, overrides=(), data_dir=None, port=None, node_id=1,
                 name="skein", advertise=True):
        self.skein = skein
        self.extra = list(overrides)
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="skein-compat-")
        self.port = port or free_port()
        self.controller_port = free_port()
        self.node_id = node_id
        self.name = name
        self.advertise = advertise
        self.proc = None
        self.lines = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._reader = None

    def argv(self):
        addr = "PLAINTEXT://127.0.0.1:%d" % self.port
        ctrl = "CONTROLLER://127.0.0.1:%d" % self.controller_port
        # A standalone node is a one-voter KRaft quorum, configured as Kafka's
        # config/kraft/server.properties does it.
        args = [self.skein,
                "--override", "process.roles=broker,controller",
                "--override", "controller.listener.names=CONTROLLER",
                "--override", "controller.quorum.voters=%d@127.0.0.1:%d"
                % (self.node_id, self.controller_port),
                "--override", "listener.security.protocol.map="
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "--override", "listeners=%s,%s" % (addr, ctrl),
                "--override", "log.dirs=" + os.path.join(self.data_dir, "logs"),
                "--override", "node.id=%d" % self.node_id]
        if self.advertise:
            args += ["--override", "advertised.listeners=" + addr]
        # SKEIN_TEST_SHARDS=N runs every test's broker with N shards; a test's
        # own skein.num.shards override comes later and wins.
        shards = os.environ.get("SKEIN_TEST_SHARDS")
        if shards:
            args += ["--override", "skein.num.shards=%d" % int(shards)]
        for o in self.extra:
            args += ["--override", o]
        return args

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def serves_clients(self):
        return True

    def accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
            return True
        except OSError:
            return False

    def wait_serving(self, timeout=60):
        """Whether the client listener accepts connections within timeout: a
        node of a larger quorum refuses them until it has caught up and the
        controller has taken its registration (after a kill -9, once the
        previous process's session has lapsed)."""
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if time.monotonic() >= deadline or (self.proc and self.proc.poll() is not None):
                return False
            time.sleep(0.1)
        return True

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
            if READY in line:
                self._ready.set()

    def stderr_text(self):
        with self._lock:
            return "\n".join(self.lines)

    def tail(self, n=25):
        with self._lock:
            return "\n".join(self.lines[-n:])

    def launch(self):
        """Starts the process without waiting for it to be ready."""
        self._ready.clear()
        self.lines = []
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self.proc

    def start(self, timeout=30):
        if not os.path.exists(self.skein):
            raise BrokerError("broker binary %s does not exist (build it: ninja -C build)"
                              % self.skein)
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return self
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise BrokerError("broker exited with %s before '%s'; stderr:\n%s"
                                  % (self.proc.returncode, READY, self.tail()))
        self.kill()
        raise BrokerError("broker did not log '%s' within %ss; stderr:\n%s"
                          % (READY, timeout, self.tail()))

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(5)
        return rc

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._reader:
            self._reader.join(5)

    def sanitizer_report(self):
        text = self.stderr_text()
        for m in SANITIZER_MARKS:
            if m in text:
                return text
        return None

    def cleanup(self):
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
