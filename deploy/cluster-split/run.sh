#!/bin/bash
# A split Skein cluster on this machine: controllers 1-3 (the KRaft quorum,
# process.roles=controller, on 127.0.0.1:11093, 12093, 13093) and brokers
# 4-6 (process.roles=broker, clients on 127.0.0.1:14092, 15092, 16092),
# from deploy/cluster-split/*.properties, data in ./cluster-split-data.
#
#   deploy/cluster-split/run.sh start   formats the data dirs once (one
#                                       cluster id for all six), starts the
#                                       controllers, then the brokers, in the
#                                       background; waits until each listens
#   deploy/cluster-split/run.sh stop    SIGTERM to the brokers, then the
#                                       controllers; waits for each to exit
#   deploy/cluster-split/run.sh status  which nodes run
#
# Admin requests reaching a broker are forwarded to the active controller.
# SKEIN names the binary (default: build-release/src/skein).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
skein=${SKEIN:-build-release/src/skein}
data=./cluster-split-data
controllers="controller1 controller2 controller3"
brokers="broker4 broker5 broker6"

pid_of() { cat "$data/$1.pid" 2>/dev/null || true; }

running() {
    pid=$(pid_of "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# The port a node listens on: its only listener's.
port_of() { sed -n 's/^listeners=.*:\([0-9]*\)$/\1/p' "$here/$1.properties"; }

format_all() {
    [ -f "$data/cluster.id" ] && return 0
    mkdir -p "$data"
    "$skein" random-uuid > "$data/cluster.id.new"
    for n in $controllers $brokers; do
        "$skein" format --cluster-id "$(cat "$data/cluster.id.new")" \
            "$here/$n.properties" --ignore-formatted
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

launch() {
    for n in "$@"; do
        if running "$n"; then echo "$n runs already (pid $(pid_of "$n"))"; continue; fi
        "$skein" "$here/$n.properties" >> "$data/$n.log" 2>&1 &
        echo $! > "$data/$n.pid"
    done
    for n in "$@"; do
        if wait_listening "$(port_of "$n")"; then
            echo "$n: 127.0.0.1:$(port_of "$n"), log in $data/$n.log"
        else
            echo "$n did not start listening; see $data/$n.log" >&2
        fi
    done
}

start() {
    [ -x "$skein" ] || { echo "no $skein: build it first (README), or set SKEIN" >&2; exit 1; }
    format_all
    launch $controllers
    launch $brokers
}

halt() {
    for n in "$@"; do
        running "$n" || continue
        kill -TERM "$(pid_of "$n")"
    done
    for n in "$@"; do
        i=0
        while running "$n" && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
        if running "$n"; then echo "$n did not stop within 60 s" >&2; else rm -f "$data/$n.pid"; fi
    done
}

case "${1:-}" in
start) start ;;
stop) halt $brokers; halt $controllers ;;
status) for n in $controllers $brokers; do
            if running "$n"; then echo "$n: running (pid $(pid_of "$n"))"; else echo "$n: stopped"; fi
        done ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
