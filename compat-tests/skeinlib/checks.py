"""Named checks for a scenario script that runs against one broker: each check
prints ok/FAIL as it goes, a broker crash or sanitizer report is a failure, and
the exit status says whether any check failed."""
import sys

FAILURES = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(broker, steps):
    """Starts broker, runs each step(broker), stops and removes it; exits 1 if any
    check failed or a step raised (the broker's last log lines are printed)."""
    try:
        broker.start()
        for step in steps:
            step(broker)
        report = broker.sanitizer_report()
        check(not report, "no sanitizer report: %s" % report)
    except Exception as e:  # a crash of the broker shows up here
        FAILURES.append(repr(e))
        print("FAIL: %r\n%s" % (e, broker.tail()), flush=True)
    finally:
        broker.stop()
        broker.cleanup()
    print("%d failure(s)" % len(FAILURES), flush=True)
    sys.exit(1 if FAILURES else 0)
