import sys, os, time, subprocess, json
sys.path.insert(0, '/work/wt-threads/compat-tests')
from skeinlib.broker import Broker
REL = '/work/wt-threads/build-release'
def cpu(pid):
    f = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
def run(shards, acks, parts, producers, records, size):
    b = Broker(REL + '/src/skein', overrides=["skein.num.shards=%d" % shards]).start()
    try:
        subprocess.run([REL + '/bench/bench-admin', b.bootstrap, 'create', 't', str(parts)], check=True,
                       capture_output=True)
        argv = [REL + '/bench/producer-perf-test', '--topic', 't', '--num-records', str(records // producers),
                '--record-size', str(size), '--throughput', '-1', '--json', '--producer-props',
                'bootstrap.servers=' + b.bootstrap, 'acks=%s' % acks]
        c0 = cpu(b.proc.pid); t0 = time.time()
        ps = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(producers)]
        js = []
        for p in ps:
            o, _ = p.communicate()
            js.append([json.loads(l) for l in o.splitlines() if l.startswith('{')][-1])
        c1 = cpu(b.proc.pid)
        byts = sum(j['bytes'] for j in js); el = max(j['elapsed_s'] for j in js)
        p99 = max(j['p99_ms'] for j in js)
        return byts / 1048576 / el, (c1 - c0) / (byts / 1e9), p99
    finally:
        b.stop()
for acks, parts, prods in [(1, 16, 2), ('all', 16, 2), ('all', 16, 4)]:
    for shards in (1, 2, 1, 2):
        mb, cpug, p99 = run(shards, acks, parts, prods, 400000, 1024)
        print("acks=%s partitions=%d producers=%d shards=%d: %.1f MB/s, broker %.2f CPU s/GB, worst p99 %.0f ms"
              % (acks, parts, prods, shards, mb, cpug, p99), flush=True)
