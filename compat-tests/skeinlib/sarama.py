"""Building compat-tests/go (the sarama scenarios and group member) from Debian's Go
packages: GOPATH mode, no module proxy."""
import os
import shutil
import subprocess

GO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "go")


def build_sarama(workdir):
    """sarama comes from Debian's Go packages: GOPATH mode, no module proxy."""
    if shutil.which("go") is None or not os.path.isdir(
            "/usr/share/gocode/src/github.com/Shopify/sarama"):
        return None
    out = os.path.join(workdir, "sarama-compat")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="")
    env.setdefault("GOCACHE", os.path.join(os.path.expanduser("~"), ".cache", "go-build"))
    p = subprocess.run(["go", "build", "-o", out, "."], cwd=GO_DIR,
                       env=env, capture_output=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("go build of compat-tests/go failed:\n" + p.stderr.decode()[-3000:])
    return out
