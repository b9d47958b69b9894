"""The build a benchmark runs: build-release/ by default, the tree the README's
first command makes. It is set up if missing and brought up to date before a
run, so that following the README and then running a benchmark just works.
The perf tools link librdkafka: a tree configured before librdkafka-dev was
installed is reconfigured once to find it."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "build-release")


def _run(argv):
    print("bench: " + " ".join(argv), file=sys.stderr, flush=True)
    subprocess.run(argv, check=True, stdout=sys.stderr)


def missing(paths):
    return [p for p in paths if not os.access(p, os.X_OK)]


def ensure(build_dir, binaries, who):
    """Builds build_dir (meson setup if new, then ninja); exits naming what is
    still missing. binaries: paths relative to build_dir. Returns absolute paths."""
    paths = [os.path.join(build_dir, b) for b in binaries]
    try:
        if not os.path.isfile(os.path.join(build_dir, "build.ninja")):
            _run(["meson", "setup", build_dir, ROOT, "--buildtype=release"])
        _run(["ninja", "-C", build_dir])
        if missing(paths):
            _run(["meson", "setup", "--reconfigure", build_dir, ROOT])
            _run(["ninja", "-C", build_dir])
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("%s: cannot build %s: %s" % (who, build_dir, e))
    gone = missing(paths)
    if gone:
        raise SystemExit("%s: %s not built in %s: the benchmark tools need librdkafka-dev "
                         "(deploy/setup.sh --test installs it)" % (who, ", ".join(gone), build_dir))
    return paths
