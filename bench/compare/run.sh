#!/bin/bash
# Dormouse vs Dovecot, side by side, one command. Run as root from anywhere:
#   bench/compare/run.sh quick [compare flags...]   # development: a few minutes
#   flock /tmp/dormouse-bench.lock bench/compare/run.sh full   # the published run
# It installs Debian's dovecot-imapd and isync if missing, creates the system
# user that owns Dovecot's mail, raises the inotify limits, builds dormouse,
# bench/idle and bench/compare, and runs the comparison (bench/compare
# starts and stops both servers itself). Output: bench/results/compare-DATE*.
# Environment: WORK (scratch, default /tmp/dormouse-compare), MAILUSER
# (default dormbench), PORT_BASE (default 22400; uses base..base+2).
set -euo pipefail
MODE=${1:-quick}
shift || true
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/dormouse-compare}
MAILUSER=${MAILUSER:-dormbench}
PORT_BASE=${PORT_BASE:-22400}
BIN=$WORK-bin

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (Dovecot, /proc of its processes)" >&2; exit 2; }
case "$MODE" in quick|full) ;; *) sed -n '2,11p' "$0"; exit 2 ;; esac

# Stop whatever the compare tool may have left running if it was killed:
# each server runs in its own process group, recorded in WORK/pids.
cleanup() {
  local f pg
  for f in "$WORK"/pids/*.pid; do
    [ -f "$f" ] || continue
    pg=$(cat "$f")
    kill -TERM -- "-$pg" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pg" 2>/dev/null || true
    rm -f "$f"
  done
}
trap cleanup EXIT INT TERM

if ! command -v dovecot >/dev/null || ! dpkg -s dovecot-imapd >/dev/null 2>&1; then
  apt-get update && apt-get install -y dovecot-imapd
fi
command -v mbsync >/dev/null || apt-get install -y isync
id "$MAILUSER" >/dev/null 2>&1 ||
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$MAILUSER"

# inotify: Dovecot holds one instance per idle imap process and per
# hibernated client, all charged to MAILUSER; the defaults (128) are far
# too low. Only ever raised.
[ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 65536 ] || echo 65536 > /proc/sys/fs/inotify/max_user_instances
[ "$(cat /proc/sys/fs/inotify/max_user_watches)" -ge 1048576 ] || echo 1048576 > /proc/sys/fs/inotify/max_user_watches
ulimit -n "$(ulimit -Hn)"

mkdir -p "$BIN"
(cd "$REPO" && go build -o "$BIN/dormouse" ./cmd/dormouse && go build -o "$BIN/idle" ./bench/idle &&
  go build -o "$BIN/compare" ./bench/compare)
VERSION=$(git -C "$REPO" describe --always --dirty --tags 2>/dev/null || echo unknown)

"$BIN/compare" -mode "$MODE" -work "$WORK" -out "$REPO/bench/results" \
  -dormouse "$BIN/dormouse" -idle "$BIN/idle" -mail-user "$MAILUSER" \
  -dormouse-version "$VERSION" -port-base "$PORT_BASE" \
  -invocation "bench/compare/run.sh $MODE${*:+ $*}" "$@"
