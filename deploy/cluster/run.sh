#!/bin/bash
# A three-node Skein cluster on this machine: nodes 1-3 from
# deploy/cluster/node<N>.properties, clients on 127.0.0.1:19092, 29092 and
# 39092, the KRaft quorum on 19093, 29093 and 39093, data in ./cluster-data.
#
#   deploy/cluster/run.sh start   formats the data dirs once (one cluster id
#                                 for all three), starts the nodes in the
#                                 background, waits until each listens
#   deploy/cluster/run.sh stop    SIGTERM to each, waits for it to exit
#   deploy/cluster/run.sh status  which nodes run
#
# SKEIN names the binary (default: build-release/src/skein, built by the
# README's first command).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
skein=${SKEIN:-build-release/src/skein}
data=./cluster-data

pid_of() { cat "$data/node$1.pid" 2>/dev/null || true; }

running() {
    pid=$(pid_of "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

format_all() {
    [ -f "$data/cluster.id" ] && return 0
    mkdir -p "$data"
    "$skein" random-uuid > "$data/cluster.id.new"
    for n in 1 2 3; do
        "$skein" format --cluster-id "$(cat "$data/cluster.id.new")" \
            "$here/node$n.properties" --ignore-formatted
    done
    mv "$data/cluster.id.new" "$data/cluster.id"
}

# Bounded: a node that does not listen within 30 s is reported, not waited on.
wait_listening() {
    port=$1
    i=0
    while [ $i -lt 300 ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}

start() {
    [ -x "$skein" ] || { echo "no $skein: build it first (README), or set SKEIN" >&2; exit 1; }
    format_all
    for n in 1 2 3; do
        if running $n; then echo "node $n runs already (pid $(pid_of $n))"; continue; fi
        "$skein" "$here/node$n.properties" >> "$data/node$n.log" 2>&1 &
        echo $! > "$data/node$n.pid"
    done
    for n in 1 2 3; do
        if wait_listening "${n}9092"; then
            echo "node $n: clients on 127.0.0.1:${n}9092, log in $data/node$n.log"
        else
            echo "node $n did not start listening; see $data/node$n.log" >&2
        fi
    done
}

stop() {
    for n in 1 2 3; do
        running $n || continue
        kill -TERM "$(pid_of $n)"
    done
    for n in 1 2 3; do
        i=0
        while running $n && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
        if running $n; then echo "node $n did not stop within 60 s" >&2; else rm -f "$data/node$n.pid"; fi
    done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) for n in 1 2 3; do
            if running $n; then echo "node $n: running (pid $(pid_of $n))"; else echo "node $n: stopped"; fi
        done ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
