#!/bin/bash
# Runs a real Thunderbird (Debian's thunderbird, headless) against a
# freshly built Dormouse for a while, delivers mail to it, and reports:
# how soon each new message was fetched by Thunderbird, how many of its
# connections were asleep at each sample, and the wakes per connection per
# hour (all of them, and those caused by keepalives). Not in CI: it needs
# the thunderbird and libnss3-tools packages and runs for minutes.
#
#   bench/thunderbird/run.sh [MINUTES]
#
# Environment: BASE (default /tmp/dormouse-tb), PORT (34100: IMAP; +1 LMTP,
# +2 metrics, +3 IMAPS), EVERY (seconds between deliveries, default 45),
# KEEPALIVE (the server's idle_keepalive, default 2m: Dormouse's default),
# HIB (--hibernate-after, default 1s), TLS (1: implicit TLS, the default;
# 0: plain). Output: $BASE/out/{report.txt,metrics.tsv,deliveries.tsv,
# imap.log (Thunderbird's MOZ_LOG IMAP:5), server.log}.
# Recipe and pitfalls: ../shared/real-clients.md (Thunderbird 153 ESR).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MINUTES=${1:-10}
BASE=${BASE:-/tmp/dormouse-tb}
PORT=${PORT:-34100}
EVERY=${EVERY:-45}
KEEPALIVE=${KEEPALIVE:-2m}
HIB=${HIB:-1s}
TLS=${TLS:-1}
DATA=$BASE/data
OUT=$BASE/out
PROFILE=$BASE/profile
TBDIR=$BASE/thunderbird
USER_NAME=tb
PASSWORD=tb-secret
METRICS="http://127.0.0.1:$((PORT + 2))/metrics"

command -v thunderbird > /dev/null || { echo "needs Debian's thunderbird"; exit 1; }
command -v certutil > /dev/null || { echo "needs libnss3-tools (certutil)"; exit 1; }
rm -rf "$DATA" "$OUT" "$PROFILE"
mkdir -p "$BASE/bin" "$OUT" "$PROFILE"
(cd "$REPO" && go build -o "$BASE/bin/dormouse" ./cmd/dormouse)
D=$BASE/bin/dormouse

SERVER_PID= TB_PID=
cleanup() {
  [ -n "$TB_PID" ] && kill "$TB_PID" 2> /dev/null || true
  [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2> /dev/null || true
  wait 2> /dev/null || true
}
trap cleanup EXIT

start_server() {
  "$D" serve --data "$DATA" --imap "127.0.0.1:$PORT" --imaps "127.0.0.1:$((PORT + 3))" \
    --lmtp "127.0.0.1:$((PORT + 1))" --metrics "127.0.0.1:$((PORT + 2))" --hibernate-after "$HIB" \
    2>> "$OUT/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -fs "$METRICS" > /dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server did not start"; cat "$OUT/server.log"; exit 1
}

# The first start writes dormouse.toml and the CA; then the user, the
# keepalive interval and the folders Thunderbird watches.
start_server
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
printf '%s\n' "$PASSWORD" | "$D" user add --data "$DATA" "$USER_NAME"
sed -i -E "s/^#? ?idle_keepalive = .*/idle_keepalive = \"$KEEPALIVE\"/" "$DATA/dormouse.toml"
start_server
python3 - "$PORT" "$USER_NAME" "$PASSWORD" << 'PY'
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
for mb in ("Drafts", "Sent", "Archive"):
    c.create(mb)
    c.subscribe(mb)
c.subscribe("INBOX")
c.logout()
PY

# A copy of the install folder holds the AutoConfig that stores the
# password (Thunderbird cannot prompt headless); the profile trusts the
# server's CA.
rm -rf "$TBDIR"; mkdir -p "$TBDIR"
for f in /usr/lib/thunderbird/*; do # its links are relative (one dangles): copy their targets
  [ -e "$f" ] && cp -rL "$f" "$TBDIR/"
done
mkdir -p "$TBDIR/defaults/pref"
cat > "$TBDIR/defaults/pref/autoconfig.js" << 'JS'
pref("general.config.filename", "mozilla.cfg");
pref("general.config.obscure_value", 0);
pref("general.config.sandbox_enabled", false);
JS
cat > "$TBDIR/mozilla.cfg" << JS
// bench/thunderbird: store the IMAP password once (DORMOUSE_TB_SETUP=1), then quit.
try {
  const Ci = Components.interfaces, Cc = Components.classes;
  const env = Cc["@mozilla.org/process/environment;1"].getService(Ci.nsIEnvironment);
  if (env.get("DORMOUSE_TB_SETUP") == "1") {
    const obs = Cc["@mozilla.org/observer-service;1"].getService(Ci.nsIObserverService);
    obs.addObserver({ observe: async function () {
      const lm = Cc["@mozilla.org/login-manager;1"].getService(Ci.nsILoginManager);
      const li = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
      li.init("imap://127.0.0.1", null, "imap://127.0.0.1", "$USER_NAME", "$PASSWORD", "", "");
      await lm.addLoginAsync(li);
      Cc["@mozilla.org/toolkit/app-startup;1"].getService(Ci.nsIAppStartup).quit(Ci.nsIAppStartup.eForceQuit);
    } }, "final-ui-startup");
  }
} catch (e) { Components.utils.reportError(e); }
JS
if [ "$TLS" = 1 ]; then IMAP_PORT=$((PORT + 3)) SOCKET=3; else IMAP_PORT=$PORT SOCKET=0; fi
cat > "$PROFILE/user.js" << JS
user_pref("mail.accountmanager.accounts", "account1,account2");
user_pref("mail.accountmanager.defaultaccount", "account1");
user_pref("mail.accountmanager.localfoldersserver", "server2");
user_pref("mail.account.account1.identities", "id1");
user_pref("mail.account.account1.server", "server1");
user_pref("mail.account.account2.server", "server2");
user_pref("mail.identity.id1.useremail", "$USER_NAME@example.org");
user_pref("mail.identity.id1.fullName", "Bench");
user_pref("mail.server.server1.type", "imap");
user_pref("mail.server.server1.hostname", "127.0.0.1");
user_pref("mail.server.server1.port", $IMAP_PORT);
user_pref("mail.server.server1.userName", "$USER_NAME");
user_pref("mail.server.server1.name", "$USER_NAME@dormouse");
user_pref("mail.server.server1.socketType", $SOCKET);
user_pref("mail.server.server1.authMethod", 3);
user_pref("mail.server.server1.login_at_startup", true);
user_pref("mail.server.server1.check_new_mail", true);
user_pref("mail.server.server1.check_time", 10);
user_pref("mail.server.server1.use_idle", true);
user_pref("mail.server.server2.type", "none");
user_pref("mail.server.server2.hostname", "Local Folders");
user_pref("mail.server.server2.userName", "nobody");
user_pref("mail.server.server2.name", "Local Folders");
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mailnews.start_page.enabled", false);
user_pref("mail.rights.version", 1);
user_pref("app.update.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
JS
certutil -N -d "sql:$PROFILE" --empty-password
certutil -A -d "sql:$PROFILE" -n dormouse-ca -t "C,," -i "$DATA/tls/ca.crt"
export MOZ_HEADLESS=1
DORMOUSE_TB_SETUP=1 timeout 120 "$TBDIR/thunderbird" --headless --profile "$PROFILE" > "$OUT/tb-setup.log" 2>&1 || true

metric() { curl -fs "$METRICS" | awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }'; }
MOZ_LOG=IMAP:5,timestamp MOZ_LOG_FILE=$OUT/imap.log "$TBDIR/thunderbird" --headless --profile "$PROFILE" > "$OUT/tb.log" 2>&1 &
TB_PID=$!
echo "$(date -u +%FT%TZ) dormouse $(cd "$REPO" && git rev-parse --short HEAD) thunderbird $(thunderbird --version 2>/dev/null) hibernate_after=$HIB idle_keepalive=$KEEPALIVE tls=$TLS minutes=$MINUTES" | tee "$OUT/report.txt"
# Thunderbird's start (folder discovery, first sync) is not the steady
# state: counting starts after a minute.
sleep 60
printf 'time\thibernated\tactive\tidling\twakes_client\tkeepalive_wakes\tconnections_open\n' > "$OUT/metrics.tsv"
printf 'n\tdelivered_unix\n' > "$OUT/deliveries.tsv"
W0=$(metric 'dormouse_imap_wakes_total{cause="client"}') K0=$(metric dormouse_imap_keepalive_wakes_total)
T0=$(date +%s) END=$((T0 + MINUTES * 60)) NEXT=$((T0 + 10)) n=0
while [ "$(date +%s)" -lt "$END" ]; do
  now=$(date +%s)
  if [ "$now" -ge "$NEXT" ]; then
    n=$((n + 1))
    printf 'From: sender@example.org\r\nTo: %s@example.org\r\nSubject: bench %d\r\nMessage-ID: <%d.%s@bench.tb>\r\n\r\nhello %d\r\n' \
      "$USER_NAME" "$n" "$n" "$now" "$n" > "$BASE/msg"
    printf '%d\t%s\n' "$n" "$(date +%s.%N)" >> "$OUT/deliveries.tsv"
    "$D" deliver --data "$DATA" "$USER_NAME" < "$BASE/msg"
    NEXT=$((now + EVERY))
  fi
  m=$(curl -fs "$METRICS")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s.%N)" \
    "$(awk '/^dormouse_imap_connections\{state="hibernated"\}/{print $2}' <<< "$m")" \
    "$(awk '/^dormouse_imap_connections\{state="active"\}/{print $2}' <<< "$m")" \
    "$(awk '/^dormouse_imap_connections\{state="idling"\}/{print $2}' <<< "$m")" \
    "$(awk '/^dormouse_imap_wakes_total\{cause="client"\}/{print $2}' <<< "$m")" \
    "$(awk '/^dormouse_imap_keepalive_wakes_total/{s+=$2} END{print s+0}' <<< "$m")" \
    "$(ss -tn state established "( sport = :$IMAP_PORT )" | tail -n +2 | wc -l)" >> "$OUT/metrics.tsv"
  sleep 2
done
W1=$(metric 'dormouse_imap_wakes_total{cause="client"}') K1=$(metric dormouse_imap_keepalive_wakes_total)
curl -fs "$METRICS" | grep -E '^dormouse_imap_(wake_commands_total|keepalive_wakes_total|hibernated_served_total|hibernation_refused_total|wakes_total)' > "$OUT/metrics-end.txt" || true
kill "$TB_PID"; wait "$TB_PID" 2> /dev/null || true; TB_PID=
python3 "$(dirname "$0")/report.py" "$OUT" "$MINUTES" "$((W1 - W0))" "$((K1 - K0))" | tee -a "$OUT/report.txt"
