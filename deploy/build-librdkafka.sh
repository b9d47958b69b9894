#!/usr/bin/env bash
# Builds a current librdkafka for the compatibility tests beside Debian's 2.0.2:
# compat-tests/run.py runs its librdkafka, confluent-kafka-python and kcat rows over
# both. Debian has nothing newer, so the source comes from the npm package
# node-rdkafka, which carries librdkafka's release tree under deps/librdkafka; only
# that tree is used (node-rdkafka's own native build is never run).
# Installs into build-deps/librdkafka-$VERSION (git-ignored); does nothing if a
# finished build is already there. Needs what deploy/setup.sh --test installs.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.12.0
NPM_PACKAGE=node-rdkafka@3.6.1
# sha256 of the npm tarball: a re-published package must not slip in unnoticed.
TARBALL_SHA256=148f7e7b65c510314c70762d8f1be052c8fe1fdf03a128e6c78083a729a57a30

dest="$PWD/build-deps/librdkafka-$VERSION"
stamp="$dest/.built"
if [ -f "$stamp" ] && [ -e "$dest/lib/librdkafka.so.1" ]; then
  exit 0
fi

t0=$(date +%s)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
rm -rf "$dest"

(cd "$scratch" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
tarball=$(ls "$scratch"/*.tgz)
echo "$TARBALL_SHA256  $tarball" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$scratch" package/deps/librdkafka
src="$scratch/package/deps/librdkafka"
got=$(sed -n 's/^#define RD_KAFKA_VERSION *0x\([0-9a-f]*\).*/\1/p' "$src/src/rdkafka.h")
[ "$got" = "$(printf '%02x%02x%02xff' ${VERSION//./ })" ] || {
  echo "$NPM_PACKAGE carries librdkafka 0x$got, not $VERSION" >&2
  exit 1
}

# Only the C library, without what the tests never use (TLS, SASL/GSSAPI, HTTP for
# OIDC); the codecs all come from Debian's libraries, snappy is built in.
cd "$src"
./configure --prefix="$dest" --no-download --disable-ssl --disable-gssapi \
  --disable-curl --disable-syslog --enable-zlib --enable-zstd --enable-lz4-ext \
  >"$scratch/configure.log" 2>&1 || { tail -40 "$scratch/configure.log" >&2; exit 1; }
make -C src -j"$(nproc)" >"$scratch/make.log" 2>&1 || { tail -40 "$scratch/make.log" >&2; exit 1; }
make -C src install >"$scratch/install.log" 2>&1 || { tail -20 "$scratch/install.log" >&2; exit 1; }
touch "$stamp"
echo "librdkafka $VERSION built into $dest in $(( $(date +%s) - t0 )) s"
