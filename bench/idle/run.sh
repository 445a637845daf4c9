#!/bin/bash
# Runs bench/idle against a freshly built Dormouse on scratch data.
#
#   bench/idle/run.sh prepare                 # users, passwd, INBOXes (once per BASE)
#   bench/idle/run.sh bench HIB TAG [flags]   # start dormouse, run the tool, stop it
#   bench/idle/run.sh figures                 # every run in README.md, each under the bench lock
#   bench/idle/run.sh heapprof N TAG [flags]  # heap profile of the server with N hibernated conns
#   bench/idle/run.sh rescan                  # one SELECT per user: indexes catch up with deliveries
#   bench/idle/run.sh upgrade HIB TAG [flags] # bench, with a `dormouse serve --takeover` after the idle measurement
#
# HIB is --hibernate-after (0 = off, e.g. 1s). TAG names the output files
# ($OUT/TAG.txt, .json, .server.log). Flags go to the tool (-n, -per-user,
# -deliveries, -fanout, -cycles, -settle, ...); -addr, -server-pid,
# -metrics, -maildir-fmt, -password and -json are filled in.
#
# Environment: BASE (default /tmp/dormouse-idle), USERS (3800), MSGS (2000
# messages in each INBOX), PORT (21100: IMAP; +1 LMTP, +2 metrics), OUT
# (default $BASE/out), GODEBUG_SERVER (GODEBUG for the server, default none),
# SERVER_FLAGS (more `dormouse serve` flags, e.g. --pprof). With IMAPS=1 the
# server also listens for implicit TLS on PORT+3 and the tool connects
# there (pass -tls); -starttls needs nothing more.
# Heavy runs: wrap in `flock /tmp/dormouse-bench.lock`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE:-/tmp/dormouse-idle}
USERS=${USERS:-3800}
MSGS=${MSGS:-2000}
PORT=${PORT:-21100}
OUT=${OUT:-$BASE/out}
DATA=$BASE/data
BIN=$BASE/bin
PASSWORD=bench-pass

build() {
  mkdir -p "$BIN"
  (cd "$REPO" && go build -o "$BIN/dormouse" ./cmd/dormouse && go build -o "$BIN/idle" ./bench/idle)
}

# One set of messages, hard-linked into every INBOX's cur/. Names carry
# Dovecot's S= (size) and W= (size with CRLF) so the server need not read
# them, and ":2,S" (seen); names are unique within a folder, which is all
# Maildir asks.
make_messages() {
  local dir=$BASE/msgs i m lines
  rm -rf "$dir"; mkdir -p "$dir"
  for ((i = 0; i < MSGS; i++)); do
    m="From: sender$i@example.org
To: someone@example.org
Subject: message $i of the bench INBOX
Date: Sat, 28 Nov 2026 10:00:00 +0000
Message-ID: <$i.bench-idle@example.org>

Body line one of message $i.
Body line two.
"
    lines=${m//[!$'\n']/}
    printf '%s' "$m" > "$dir/1764300000.M${i}P1.bench,S=${#m},W=$((${#m} + ${#lines})):2,S"
  done
}

prepare() {
  build
  rm -rf "$DATA"; mkdir -p "$DATA/users"
  make_messages
  # Dovecot passwd-file form, {PLAIN}: a bcrypt check per LOGIN would make
  # the ramp measure bcrypt.
  for ((u = 0; u < USERS; u++)); do
    printf 'user%04d:{PLAIN}%s\n' "$u" "$PASSWORD"
  done > "$DATA/passwd"
  chmod 600 "$DATA/passwd"
  for ((u = 0; u < USERS; u++)); do
    printf 'user%04d\n' "$u"
  done | xargs -P 2 -I{} sh -c 'md="$1/users/$2/Maildir"; mkdir -p "$md/new" "$md/tmp" && cp -al "$3/." "$md/cur"' _ "$DATA" {} "$BASE/msgs"
  # First start writes dormouse.toml and the certificate; then build every
  # user's index once, so runs measure idle connections, not indexing.
  echo "$(date -u +%T) linked $MSGS messages into $USERS INBOXes; building indexes"
  rescan
  # Every connection of a run comes from 127.0.0.1, and -fanout puts them
  # all on one user: lift the per-user and per-address limits meant for
  # real clients (the first start wrote them commented out).
  sed -i -E 's/^# (max_connections_per_user(_addr)?|login_failures_per_(addr|user)) = [0-9]+$/\1 = 0/' "$DATA/dormouse.toml"
  grep -Eq '^max_connections_per_user_addr = 0$' "$DATA/dormouse.toml" || { echo "could not lift the limits in $DATA/dormouse.toml"; return 1; }
  echo "prepared $USERS users x $MSGS messages in $DATA"
}

# rescan logs every user in once, so that the indexes take in what the
# latency runs delivered and note their folders' mtimes: otherwise the
# next run's first SELECT of each such user reads its whole cur/ again.
rescan() {
  build
  start 0
  "$BIN/idle" -addr "127.0.0.1:$PORT" -password "$PASSWORD" -prewarm -n "$USERS" -concurrency 8 -ramp-timeout 60m
  stop
}

# start HIB [LOG], stop, bench_start and bench_stop:
# bench/internal/serverctl/serverctl.sh.
. "$REPO/bench/internal/serverctl/serverctl.sh"

bench() {
  local hib=$1 tag=$2; shift 2
  bench_start "$hib" "$tag"
  local aport=$PORT
  [ -z "${IMAPS:-}" ] || aport=$((PORT + 3))
  "$BIN/idle" -addr "127.0.0.1:$aport" -server-pid "$SERVER_PID" -password "$PASSWORD" \
    -metrics "http://127.0.0.1:$((PORT + 2))/metrics" -maildir-fmt "$DATA/users/%s/Maildir" \
    -label "hibernate-after=$hib $tag" -json "$OUT/$tag.json" "$@" 2>&1 | tee -a "$OUT/$tag.txt"
  bench_stop "$tag"
}

# heapprof runs bench with --pprof and every allocation sampled
# (GODEBUG memprofilerate=1), takes a heap profile just after start and
# one 10 s after all N connections are hibernated (the ramp may have
# begun before the first):
# $OUT/TAG.{base,heap}.pb.gz, then
#   go tool pprof -sample_index=inuse_space -top $BIN/dormouse $OUT/TAG.heap.pb.gz
heapprof() {
  local n=$1 tag=$2 m="http://127.0.0.1:$((PORT + 2))" h; shift 2
  mkdir -p "$OUT"
  rm -f "$OUT/$tag.base.pb.gz" "$OUT/$tag.heap.pb.gz"
  SERVER_FLAGS="${SERVER_FLAGS:-} --pprof" GODEBUG_SERVER=memprofilerate=1 \
    bench 1s "$tag" -n "$n" -settle 40s "$@" &
  local pid=$!
  for _ in $(seq 600); do
    if [ ! -f "$OUT/$tag.base.pb.gz" ]; then
      curl -fs "$m/debug/pprof/heap?gc=1" -o "$OUT/$tag.base.pb.gz" 2> /dev/null || rm -f "$OUT/$tag.base.pb.gz"
    fi
    # Before the server is up curl fails: not an error (set -e).
    h=$(curl -fs "$m/metrics" 2> /dev/null | awk '/^dormouse_imap_connections\{state="hibernated"\}/{print $2}') || true
    [ "$h" = "$n" ] && break
    sleep 1
  done
  sleep 10
  curl -fs "$m/debug/pprof/heap?gc=1" -o "$OUT/$tag.heap.pb.gz" || echo "no heap profile"
  wait "$pid"
}

# upgrade is bench with -upgrade: once the connections are measured asleep,
# a second `dormouse serve --takeover` on the same data takes them over
# (its log: $OUT/TAG.new-server.log); the tool stops it at the end.
upgrade() {
  local hib=$1 tag=$2; shift 2
  bench "$hib" "$tag" -upgrade "$BIN/dormouse serve --data $DATA --takeover --imaps= --hibernate-after $hib ${SERVER_FLAGS:-}" \
    -upgrade-log "$OUT/$tag.new-server.log" "$@"
}

# The figures in README.md: every run under the machine's bench lock.
figures() {
  local L="flock /tmp/dormouse-bench.lock $0 bench"
  local MEM="-settle 15s -gc-wait 150s"
  # a. memory per connection, hibernation off and on
  $L 1s  mem-on-1k   -n 1000  -per-user 5 $MEM
  $L 0   mem-off-1k  -n 1000  -per-user 5 $MEM
  # a + b. 10,000 connections: memory, then 1,000 wakes by rename
  $L 1s  wake-on-10k  -n 10000 -per-user 5 $MEM -deliveries 1000
  $L 0   wake-off-10k -n 10000 -per-user 5 $MEM -deliveries 1000
  # b. the same by LMTP
  $L 1s  lmtp-on-10k  -n 10000 -per-user 5 -settle 15s -deliveries 1000 -lmtp "127.0.0.1:$((PORT + 1))"
  $L 0   lmtp-off-10k -n 10000 -per-user 5 -settle 15s -deliveries 1000 -lmtp "127.0.0.1:$((PORT + 1))"
  # c. fan-out: 5,000 hibernated connections on one mailbox
  $L 1s  fanout-5k -n 5000 -fanout -fanout-repeats 5 -settle 15s
  # d. CPU per keepalive cycle (DONE, NOOP, IDLE: answered asleep), and
  # per hibernate-and-wake cycle (a FETCH in place of the NOOP)
  $L 200ms cycles-1k      -n 1000 -per-user 5 -settle 10s -cycles 20
  $L 200ms cycles-wake-1k -n 1000 -per-user 5 -settle 10s -cycles 20 -cycle-command "UID FETCH 1 (FLAGS RFC822.SIZE)"
  # e. quiet sessions (LOGIN, SELECT, nothing more), hibernation on and off
  $L 1s  quiet-on-2k  -n 2000 -per-user 5 -quiet $MEM
  $L 0   quiet-off-2k -n 2000 -per-user 5 -quiet $MEM
  # a. the largest N: 19,000 (client and server each hold ~N sockets of
  # 20,000 files). Without hibernation every user's index stays open
  # (one more file each), so 20 connections per user there.
  $L 1s  mem-on-19k      -n 19000 -per-user 5  $MEM
  $L 0   mem-off-19k     -n 19000 -per-user 20 $MEM
  $L 1s  mem-on-19k-pu20 -n 19000 -per-user 20 $MEM
}

cmd=${1:-}; shift || true
case "$cmd" in
  prepare) prepare ;;
  bench) bench "$@" ;;
  figures) figures ;;
  heapprof) heapprof "$@" ;;
  rescan) rescan ;;
  upgrade) upgrade "$@" ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
