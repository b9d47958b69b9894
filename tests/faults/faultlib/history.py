"""The history: one JSON object per line, written as operations complete.
Every operation has a type, a time t (seconds since the run began, from one
monotonic clock) and, for client operations, the client and its outcome:
"ok", "failed" (certainly not applied) or "unknown" (timeouts, and errors
after which the broker may have applied it)."""
import json
import threading
import time


class History:
    def __init__(self, path):
        self.path = path
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self._f = open(path, "w")
        self._lock = threading.Lock()

    def now(self):
        return time.monotonic() - self.t0

    def record(self, **op):
        op.setdefault("t", round(self.now(), 6))
        line = json.dumps(op, separators=(",", ":"))
        with self._lock:
            if self._f:
                self._f.write(line + "\n")

    def close(self):
        with self._lock:
            if self._f:
                self._f.close()
                self._f = None


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
