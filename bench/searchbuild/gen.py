#!/usr/bin/env python3
"""A Maildir of N small messages (bench/compare's largeMessage shape) for measure.py.

gen.py DATA N: DATA/users/large/Maildir, DATA/passwd (large/pass), DATA/dormouse.toml.
"""
import os, sys, datetime

words = ["alpha","budget","meeting","invoice","project","report","review","schedule","travel","update","quarterly","planning","customer","deadline","design","draft","feedback","hiring","launch","marketing","offsite","payroll","pricing","proposal","release","roadmap","sales","security","strategy","summary","support","team","training","vendor","weekly","zebra"]
data, n = sys.argv[1], int(sys.argv[2])
md = os.path.join(data, "users/large/Maildir")
for s in ("cur","new","tmp"): os.makedirs(os.path.join(md, s), exist_ok=True)
base = datetime.datetime(2026,1,1,tzinfo=datetime.timezone.utc)
bt = int(base.timestamp())
for i in range(n):
    date = (base + datetime.timedelta(minutes=i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg = (f"Message-ID: <large-{i:07d}@example.org>\nDate: {date}\nFrom: \"Person {i%400}\" <p{i%400}@example.org>\n"
           f"To: reader@example.org\nSubject: {words[i%len(words)]} {words[(i//7)%len(words)]} {i}\n\n"
           f"{words[(i//3)%len(words)]} {words[(i//11)%len(words)]} {words[(i//13)%len(words)]}\n")
    b = msg.encode()
    name = f"{bt+i}.L{i}P1Q{i}.bench,S={len(b)},W={len(b)+msg.count(chr(10))}:2,{'S' if i%3 else ''}"
    with open(os.path.join(md, "cur", name), "wb") as f: f.write(b)
with open(os.path.join(data, "passwd"), "w") as f: f.write("large:{PLAIN}pass::::::\n")
with open(os.path.join(data, "dormouse.toml"), "w") as f:
    f.write('[log]\nlevel = "debug"\n[limits]\nmax_preauth_per_addr = 0\nlogin_failures_per_addr = 0\nlogin_failures_per_user = 0\nmax_connections_per_user = 0\nmax_connections_per_user_addr = 0\n')
