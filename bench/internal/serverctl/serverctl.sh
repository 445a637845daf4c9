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
