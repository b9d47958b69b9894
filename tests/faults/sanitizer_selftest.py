#!/usr/bin/python3
"""The harness fails a run whose broker reports a sanitizer error, also one
that only shows at exit (LeakSanitizer runs when the process exits, so the
run must end with a clean stop, not a SIGKILL).

The broker is wrapped by a shell script that runs it as a child and, on
the SIGTERM of the run's end, forwards it, waits, then writes a planted
LeakSanitizer line and exits 23 as ASan does. A one-round run (a pause)
must then fail and name the report. Needs what the harness needs (root,
the clients); runs in the compat suite:

  tests/faults/sanitizer_selftest.py --skein build/src/skein"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PLANTED = "==1==ERROR: LeakSanitizer: detected memory leaks (planted by the self-test)"

WRAPPER = """#!/bin/sh
"%(skein)s" "$@" &
child=$!
echo $child > "%(pidfile)s"
trap 'kill -TERM $child; wait $child; echo "%(line)s" >&2; exit 23' TERM
wait $child
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skein", required=True)
    ap.add_argument("--shim", default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="skf-sanitizer-") as tmp:
        wrapper = os.path.join(tmp, "skein-wrapped")
        pidfile = os.path.join(tmp, "child.pid")
        with open(wrapper, "w") as f:
            f.write(WRAPPER % {"skein": os.path.abspath(a.skein), "pidfile": pidfile,
                               "line": PLANTED})
        os.chmod(wrapper, 0o755)
        out = os.path.join(tmp, "run")
        argv = [sys.executable, os.path.join(HERE, "harness.py"), "--skein", wrapper,
                "--faults", "pause", "--rounds", "1", "--seed", "1", "--out", out]
        if a.shim:
            argv += ["--shim", a.shim]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        _reap(pidfile)
        print(p.stdout[-3000:])
        if p.returncode == 0:
            print("FAIL: the run passed although the broker reported a sanitizer error at exit")
            return 1
        if "LeakSanitizer" not in p.stdout:
            print("FAIL: the run failed (%d) without naming the sanitizer report" % p.returncode)
            print(p.stderr[-3000:])
            return 1
        print("ok: the planted exit-time sanitizer report failed the run")
        return 0


def _reap(pidfile):
    """The broker child outlives its wrapper if the run SIGKILLed it."""
    try:
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
