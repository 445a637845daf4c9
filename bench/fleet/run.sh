#!/bin/bash
# Runs bench/fleet against a freshly built Dormouse on scratch data.
#
#   bench/fleet/run.sh prepare                # users, passwd, INBOXes (bench/idle's prepare)
#   bench/fleet/run.sh bench HIB TAG [flags]  # start dormouse, run the fleet, stop it
#   bench/fleet/run.sh figures                # the runs in README.md, each under the bench lock
#
# HIB is --hibernate-after (0 = off). TAG names the output files
# ($OUT/TAG.txt, .json, .server.log). Flags go to the tool (-users, -mix,
# -settle, -hold, -deliveries, -halfway, ...); -addr, -tls-addr, -ca,
# -server-pid, -metrics, -maildir-fmt, -password and -json are filled in.
#
# Environment: BASE (default /tmp/dormouse-fleet), USERS (1200), MSGS (200
# messages in each INBOX), PORT (21300: IMAP; +1 LMTP, +2 metrics, +3
# IMAPS), KEEPALIVE (the server's idle_keepalive, default 30s so that a
# run of minutes sees several; Dormouse's default is 2m), OUT (default
# $BASE/out). Heavy runs: wrap in `flock /tmp/dormouse-bench.lock`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export BASE=${BASE:-/tmp/dormouse-fleet}
export USERS=${USERS:-1200}
export MSGS=${MSGS:-200}
export PORT=${PORT:-21300}
KEEPALIVE=${KEEPALIVE:-30s}
OUT=${OUT:-$BASE/out}
DATA=$BASE/data
BIN=$BASE/bin
PASSWORD=bench-pass

build() {
  mkdir -p "$BIN"
  (cd "$REPO" && go build -o "$BIN/dormouse" ./cmd/dormouse && go build -o "$BIN/fleet" ./bench/fleet)
}

# start, stop, bench_start and bench_stop:
# bench/internal/serverctl/serverctl.sh. The fleet's clients use TLS.
. "$REPO/bench/internal/serverctl/serverctl.sh"
IMAPS=1

bench() {
  local hib=$1 tag=$2; shift 2
  [ ! -f "$DATA/dormouse.toml" ] || sed -i -E "s/^#? ?idle_keepalive = .*/idle_keepalive = \"$KEEPALIVE\"/" "$DATA/dormouse.toml"
  bench_start "$hib" "$tag" "idle_keepalive=$KEEPALIVE"
  "$BIN/fleet" -addr "127.0.0.1:$PORT" -tls-addr "127.0.0.1:$((PORT + 3))" -ca "$DATA/tls/ca.crt" \
    -server-pid "$SERVER_PID" -password "$PASSWORD" -users "$USERS" \
    -metrics "http://127.0.0.1:$((PORT + 2))/metrics" -maildir-fmt "$DATA/users/%s/Maildir" \
    -label "hibernate-after=$hib $tag" -json "$OUT/$tag.json" "$@" 2>&1 | tee -a "$OUT/$tag.txt"
  bench_stop "$tag"
}

# The figures in README.md: each run under the machine's bench lock.
figures() {
  local L="flock /tmp/dormouse-bench.lock $0 bench"
  $L 1s fleet-1200 -settle 30s -halfway -deliveries 120 -hold 3m
  $L 0  fleet-1200-off -settle 30s -halfway
}

cmd=${1:-}; shift || true
case "$cmd" in
  prepare) "$REPO/bench/idle/run.sh" prepare; build ;;
  bench) bench "$@" ;;
  figures) figures ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
