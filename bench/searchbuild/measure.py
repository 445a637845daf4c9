#!/usr/bin/env python3
"""Memory of dormouse serve while the background search-index build runs.

measure.py BIN DATA N PORT LABEL [--keep-index]
DATA holds passwd, dormouse.toml ([log] level=debug), users/large/Maildir.
Per run: remove users/large/search (unless --keep-index), start the server,
4 sessions LOGIN/SELECT/FETCH 1:* (UID FLAGS), sample smaps_rollup every
0.2 s until the log says the build ended (or 20 s with --keep-index), then
10 s more (steady). Prints peak/steady Pss and Pss_Anon (MiB) and build time.
"""
import urllib.request, imaplib, os, shutil, signal, subprocess, sys, time

binp, data, n, port, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
keep = "--keep-index" in sys.argv
if not keep:
    shutil.rmtree(os.path.join(data, "users/large/search"), ignore_errors=True)
logp = os.path.join(data, f"log-{label}.txt")
logf = open(logp, "w")
srv = subprocess.Popen([binp, "serve", "--data", data, "--imap", f"127.0.0.1:{port}", "--imaps", "", "--lmtp", "",
                        "--metrics", f"127.0.0.1:{port+1}", "--hibernate-after", "0", "--pprof"],
                       stdout=logf, stderr=logf, start_new_session=True)

def rollup():
    d = {}
    with open(f"/proc/{srv.pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[2] == "kB":
                d[p[0].rstrip(":")] = int(p[1])
    return d["Pss"] / 1024, d.get("Pss_Anon", 0) / 1024

def built():
    with open(logp) as f:
        t = f.read()
    return "search index built in the background" in t or "search index build" in t

try:
    for _ in range(200):
        try:
            c = imaplib.IMAP4("127.0.0.1", port); c.logout(); break
        except OSError:
            time.sleep(0.1)
    idle = rollup()
    t0 = time.time()
    sess = []
    for i in range(4):
        c = imaplib.IMAP4("127.0.0.1", port)
        c._mode_utf8 = False
        c.login("large", "pass")
        typ, d = c.select("INBOX")
        assert typ == "OK" and int(d[0]) == n, (typ, d)
        typ, d = c.fetch("1:*", "(UID FLAGS)")
        assert typ == "OK" and len(d) == n
        sess.append(c)
    opened = time.time() - t0
    peak = (0.0, 0.0)
    samples = []
    while True:
        s = rollup(); samples.append(s)
        if os.environ.get("PROF") and len(samples) in (10, 25, 40):
            for kind, q in (("heap", "heap?debug=1"), ("heapb", "heap")):
                open(os.path.join(data, f"{label}-{kind}-{len(samples)}"), "wb").write(urllib.request.urlopen(f"http://127.0.0.1:{port+1}/debug/pprof/{q}").read())
        peak = (max(peak[0], s[0]), max(peak[1], s[1]))
        if keep and time.time() - t0 > 20:
            break
        if not keep and built():
            break
        if time.time() - t0 > 1800:
            print("timeout"); break
        time.sleep(0.2)
    tb = time.time() - t0
    steady = []
    t1 = time.time()
    while time.time() - t1 < 10:
        s = rollup(); steady.append(s)
        peak = (max(peak[0], s[0]), max(peak[1], s[1]))
        time.sleep(0.2)
    sd = steady[-1]
    if os.environ.get("PROF"):
        for kind, q in (("heap", "heap?debug=1"), ("heapb", "heap")):
            open(os.path.join(data, f"{label}-{kind}-end"), "wb").write(urllib.request.urlopen(f"http://127.0.0.1:{port+1}/debug/pprof/{q}").read())
    for c in sess:
        c.logout()
    print(f"{label}: N={n} idle Pss {idle[0]:.1f} anon {idle[1]:.1f} | sessions open {opened:.1f}s | "
          f"build ended {tb:.1f}s | peak Pss {peak[0]:.1f} anon {peak[1]:.1f} | "
          f"steady(10s after) Pss {sd[0]:.1f} anon {sd[1]:.1f} MiB")
    sys.stdout.flush()
finally:
    os.killpg(srv.pid, signal.SIGTERM)
    srv.wait(60)
