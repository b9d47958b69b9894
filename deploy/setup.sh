#!/usr/bin/env bash
# Installs what Skein needs on Debian 12: the build dependencies, and with
# --test also the real Kafka clients the compatibility tests drive.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(meson ninja-build pkg-config gcc python3 liburing-dev liblz4-dev libzstd-dev
      libsnappy-dev zlib1g-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(libcriterion-dev librdkafka-dev kcat python3-kafka python3-confluent-kafka
         clang libclang-rt-14-dev python3-snappy python3-lz4 python3-zstandard
         golang-go golang-github-shopify-sarama-dev make
         gnuplot-nox iproute2 iptables util-linux libfaketime)
  # Node.js may come from elsewhere (nodesource) with its own npm: Debian's
  # packages only when there is no npm at all.
  command -v npm >/dev/null || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--test" ] && [ -f compat-tests/js/package.json ]; then
  (cd compat-tests/js && { [ -d node_modules ] || npm install --no-audit --no-fund --silent; })
fi

# A current librdkafka for the compatibility matrix beside Debian's 2.0.2 (built once).
if [ "${1:-}" = "--test" ]; then
  deploy/build-librdkafka.sh
fi
