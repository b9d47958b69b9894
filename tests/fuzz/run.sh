#!/bin/sh
# Builds the protocol fuzzer with clang and runs it for SECONDS (default 60)
# against the committed seed corpus. New inputs go to build-fuzz/corpus so the
# committed seeds stay small; crashes land in build-fuzz/ as crash-*.
# Usage: tests/fuzz/run.sh [SECONDS]
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ ! -d build-fuzz ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false
fi
ninja -j2 -C build-fuzz tests/fuzz/fuzz_request
mkdir -p build-fuzz/corpus
cd build-fuzz
exec ./tests/fuzz/fuzz_request -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 corpus "$root/tests/fuzz/corpus"
