"""Quiet disks between benchmark rows.

A row that writes hundreds of MB leaves them dirty in the page cache, and
the kernel writes them back while the next row runs: creating thousands of
files then waits on the journal behind that writeback, which times the row
before, not the one measured. Each row starts after a sync and once the
machine's Dirty + Writeback pages (/proc/meminfo) are under a small bound."""
import os
import time


def dirty_mib():
    """Dirty + Writeback of the whole machine, in MiB."""
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Dirty", "Writeback"):
                total += int(v.split()[0])
    return total / 1024


def settle_disk(limit_mib=32, timeout_s=120):
    """Returns the MiB still dirty when it gave up waiting (0 when under
    the limit)."""
    os.sync()
    deadline = time.monotonic() + timeout_s
    while dirty_mib() > limit_mib and time.monotonic() < deadline:
        time.sleep(0.2)
    left = dirty_mib()
    return 0 if left <= limit_mib else left
