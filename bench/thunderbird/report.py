"""Summarises a bench/thunderbird run: run.sh OUT MINUTES WAKES KEEPALIVE_WAKES."""
import datetime
import glob
import re
import sys

out, minutes, wakes, ka_wakes = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

# Thunderbird's IMAP log (MOZ_LOG=IMAP:5,timestamp): received lines per
# connection and folder.
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC - .*?:127\.0\.0\.1:([^:]*):CreateNewLineFromSocket: (.*)$")
received = []
for path in sorted(glob.glob(out + "/imap.log*.moz_log")):
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if m:
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
                received.append((t, m.group(2), m.group(3)))
received.sort()
keepalives = sum(1 for _, _, text in received if text.startswith("* OK Still here"))

# Each delivery n is UID n in INBOX: "shown" is Thunderbird reading the
# reply to its header fetch of that UID (the message is in its list).
deliveries = []
with open(out + "/deliveries.tsv") as f:
    next(f)
    for line in f:
        n, at = line.split()
        deliveries.append((int(n), float(at)))
lat_exists, lat_shown, missed = [], [], []
for n, at in deliveries:
    exists = next((t for t, folder, text in received if t >= at and folder == "S-INBOX" and re.match(r"\* \d+ EXISTS", text)), None)
    shown = next((t for t, folder, text in received if t >= at and re.match(r"\* \d+ FETCH \(UID %d .*RFC822\.SIZE" % n, text)), None)
    if shown is None:
        missed.append(n)
        continue
    lat_shown.append(shown - at)
    if exists is not None and exists <= shown:
        lat_exists.append(exists - at)

samples = []
with open(out + "/metrics.tsv") as f:
    next(f)
    for line in f:
        parts = line.split("\t")
        if len(parts) >= 7 and parts[1] and parts[6].strip():
            samples.append((float(parts[1]), float(parts[2] or 0), int(parts[6])))
asleep_all = sum(1 for h, _, n in samples if n > 0 and h >= n)
conns = max((n for _, _, n in samples), default=0)


def dist(xs):
    if not xs:
        return "none"
    xs = sorted(xs)
    return "n=%d min %.0f ms, median %.0f ms, max %.0f ms" % (len(xs), 1000 * xs[0], 1000 * xs[len(xs) // 2], 1000 * xs[-1])


print("deliveries: %d; shown (header fetch answered) %s; missed %s" % (len(deliveries), dist(lat_shown), missed or "none"))
print("  delivery -> EXISTS read on the INBOX connection: %s" % dist(lat_exists))
print("  shown within 1 s: %d of %d" % (sum(1 for x in lat_shown if x <= 1), len(deliveries)))
print("connections open: %d; samples (every ~2 s) with all of them asleep: %d of %d" % (conns, asleep_all, len(samples)))
print("keepalives received by Thunderbird: %d" % keepalives)
hours = minutes / 60
per = conns or 1
print("full wakes by the client: %.0f in %.0f min = %.1f per connection per hour; caused by keepalives: %.0f (%.1f per connection per hour)"
      % (wakes, minutes, wakes / per / hours, ka_wakes, ka_wakes / per / hours))
