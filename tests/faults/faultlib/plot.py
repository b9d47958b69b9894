"""The timeline picture: acknowledged writes per second and their latency
(p50, p99, max per second) over the run, fault windows shaded and named.
The writes are the producers' records, or on a metadata-only quorum run the
metadata workload's topic creations and deletions.
Drawn by gnuplot (Debian's gnuplot-nox), as bench/ draws its plots."""
import math
import os
import shutil
import subprocess
from collections import defaultdict


def timeline(ops, png, op_type="produce"):
    gp = shutil.which("gnuplot")
    if not gp:
        return "timeline skipped: gnuplot not found (apt-get install gnuplot-nox)"
    buckets = defaultdict(list)
    for o in ops:
        if o["type"] == op_type and o["status"] == "ok" and "t0" in o:
            buckets[int(o["t"])].append((o["t"] - o["t0"]) * 1000.0)
    if not buckets:
        return "timeline skipped: no acknowledged writes"
    end = max(buckets) + 1
    base = os.path.splitext(png)[0]
    with open(base + "-timeline.dat", "w") as f:
        for s in range(end):
            lat = sorted(buckets.get(s, []))
            if lat:
                p50 = lat[len(lat) // 2]
                p99 = lat[min(len(lat) - 1, int(math.ceil(len(lat) * 0.99)) - 1)]
                f.write("%d %d %.3f %.3f %.3f\n" % (s, len(lat), p50, p99, lat[-1]))
            else:
                f.write("%d 0 NaN NaN NaN\n" % s)
    windows, open_ = [], {}
    for o in ops:
        if o["type"] == "fault" and o["phase"] == "start":
            open_[o["round"]] = (o["t"], o["fault"])
        elif o["type"] == "fault" and o["phase"] == "end" and o["round"] in open_:
            t0, name = open_.pop(o["round"])
            windows.append((t0, o["t"], name))
    colours = {"kill": "#ff9999", "powerloss": "#ff6666", "term": "#ffcc99", "pause": "#99ccff",
               "disk": "#cccccc", "fsync": "#ff99ff", "write": "#cc99ff", "resource": "#99ff99",
               "partition": "#ffff99", "loss": "#99ffff", "delay": "#ccffcc", "oneway": "#ffffcc",
               "clock": "#8080ff"}
    objs = []
    for i, (t0, t1, name) in enumerate(windows):
        objs.append('set object %d rect from %.3f, graph 0 to %.3f, graph 1 behind '
                    'fillcolor rgb "%s" fillstyle solid 0.6 noborder' %
                    (i + 1, t0, max(t1, t0 + 0.2), colours.get(name, "#dddddd")))
    legend = ", ".join("%s=%s" % (k, v) for k, v in colours.items()
                       if any(w[2] == k for w in windows))
    script = """
set terminal pngcairo size 1400,800 font ",10"
set output "%(png)s"
set multiplot layout 2,1 title "Skein fault run: shaded = fault windows (%(legend)s)"
%(objs)s
set ylabel "acknowledged %(what)s/s"
set xrange [0:%(end)d]
set grid
plot "%(dat)s" using 1:2 with steps lw 1.5 title "acks/s"
set ylabel "ack latency (ms)"
set xlabel "seconds since start"
set logscale y
plot "%(dat)s" using 1:3 with lines title "p50", "" using 1:4 with lines title "p99", \\
     "" using 1:5 with points pt 7 ps 0.3 title "max"
unset multiplot
""" % {"png": png, "dat": base + "-timeline.dat", "end": end, "objs": "\n".join(objs),
       "legend": legend,
       "what": "writes" if op_type == "produce" else "metadata changes"}
    p = subprocess.run([gp], input=script, text=True, capture_output=True)
    if p.returncode != 0:
        # pngcairo missing: the plain png terminal draws the same
        p = subprocess.run([gp], input=script.replace("pngcairo", "png"), text=True,
                           capture_output=True)
    if p.returncode != 0:
        return "timeline failed: %s" % p.stderr.strip()[-500:]
    return "timeline: %s" % png
