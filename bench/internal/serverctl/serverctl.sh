# Sourced by bench/idle/run.sh and bench/fleet/run.sh: start and stop
# one Dormouse on scratch data. The caller sets BIN, DATA, BASE and PORT
# (IMAP; +1 LMTP, +2 metrics, +3 IMAPS when IMAPS is set), and may set
# GODEBUG_SERVER and SERVER_FLAGS.

SERVER_PID=

# start HIB [LOG]: dormouse serve with --hibernate-after HIB, its log in
# LOG; returns once its metrics answer.
start() {
  local hib=$1 log=${2:-$BASE/server.log}
  ulimit -n "$(ulimit -Hn)"
  env ${GODEBUG_SERVER:+GODEBUG=$GODEBUG_SERVER} "$BIN/dormouse" serve --data "$DATA" \
    --imap "127.0.0.1:$PORT" --imaps "${IMAPS:+127.0.0.1:$((PORT + 3))}" --lmtp "127.0.0.1:$((PORT + 1))" \
    --metrics "127.0.0.1:$((PORT + 2))" --hibernate-after "$hib" ${SERVER_FLAGS:-} 2> "$log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$((PORT + 2))/metrics" > /dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2> /dev/null || { cat "$log"; return 1; }
    sleep 0.1
  done
  echo "server did not start"; cat "$log"; return 1
}

# stop ends the server started last (TERM, then KILL after 40 s).
stop() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2> /dev/null || true
  for _ in $(seq 400); do kill -0 "$SERVER_PID" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2> /dev/null || true
  wait "$SERVER_PID" 2> /dev/null || true
  SERVER_PID=
}

# bench_start HIB TAG [NOTE]: the start of a bench run. It checks that
# prepare ran, builds, starts the server (its log in $OUT/TAG.server.log,
# stopped on exit) and writes the run's first line to $OUT/TAG.txt: the
# time, the commit, HIB and NOTE. The caller defines build.
bench_start() {
  local hib=$1 tag=$2 note=${3:-}
  [ -f "$DATA/passwd" ] || { echo "run '$0 prepare' first"; exit 1; }
  build
  mkdir -p "$OUT"
  trap stop EXIT
  start "$hib" "$OUT/$tag.server.log"
  echo "$(date -u +%FT%TZ) dormouse $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet || echo +changes) hibernate-after=$hib${note:+ $note} pid=$SERVER_PID" | tee "$OUT/$tag.txt"
  ulimit -n "$(ulimit -Hn)"
}

# bench_stop TAG: the end of a bench run: the server stopped, and the
# warnings and errors of its log counted into $OUT/TAG.txt.
bench_stop() {
  stop
  trap - EXIT
  grep -Eic 'level=(error|warn)' "$OUT/$1.server.log" | sed 's/^/server log warnings+errors: /' | tee -a "$OUT/$1.txt" || true
}
