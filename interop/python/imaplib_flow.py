#!/usr/bin/env python3
"""Drive an IMAP server with Python's imaplib through a mail client's core flow.

Usage: imaplib_flow.py HOST PORT USER PASSWORD

Run by interop/python_test.go against a fresh account. Every step checks the
values the server returns; the first mismatch is printed (with what was
expected and what came back) and the script exits 1. imaplib's own protocol
debug log (imaplib.Debug) goes to stderr when IMAPLIB_DEBUG is set.
"""

import imaplib
import os
import re
import sys
import time

FAILURES = []


def check(what, got, want):
    """Record a mismatch between got and want."""
    if got != want:
        FAILURES.append(f"{what}:\n   got: {got!r}\n  want: {want!r}")


def ok(what, typ_data):
    """Unpack an imaplib (typ, data) pair, aborting unless typ is OK."""
    typ, data = typ_data
    if typ != "OK":
        sys.exit(f"FAIL {what}: {typ} {data!r}")
    return data


def message(n, subject, body):
    return (
        f"From: Alice Example <alice@example.org>\r\n"
        f"To: bob@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <py-{n}@interop.test>\r\n"
        f"\r\n"
        f"{body}\r\n"
    ).encode()


def fetch_map(conn, uids, items):
    """UID FETCH items for uids; return {uid: raw response bytes}."""
    data = ok(f"UID FETCH {items}", conn.uid("FETCH", uids, items))
    # imaplib splits a response at each literal: (text, literal) tuples,
    # then the rest as bytes. Join the pieces of each "N (...)" response.
    responses = []
    for part in data:
        piece = part[0] + part[1] if isinstance(part, tuple) else part
        if re.match(rb"\d+ \(", piece):
            responses.append(piece)
        elif responses:
            responses[-1] += piece
    out = {}
    for r in responses:
        m = re.search(rb"UID (\d+)", r)
        if m:
            out[int(m.group(1))] = r
    return out


def search(conn, *criteria):
    data = ok(f"UID SEARCH {criteria}", conn.uid("SEARCH", *criteria))
    return [int(x) for x in data[0].split()]


def idle_until_exists(conn, deliver, timeout=5.0):
    """IDLE by hand (imaplib has no idle() before 3.14): send IDLE, wait for
    the continuation, let deliver() add a message from elsewhere, read
    untagged responses until an EXISTS, then DONE. Returns the EXISTS count."""
    tag = conn._new_tag()
    conn.send(tag + b" IDLE\r\n")
    line = conn.readline()
    while not line.startswith(b"+"):
        if line.startswith(tag):
            sys.exit(f"FAIL IDLE refused: {line!r}")
        line = conn.readline()
    deliver()
    conn.sock.settimeout(timeout)
    count = None
    try:
        while count is None:
            line = conn.readline()
            m = re.match(rb"\* (\d+) EXISTS", line)
            if m:
                count = int(m.group(1))
    except TimeoutError:
        sys.exit(f"FAIL IDLE: no EXISTS within {timeout}s of the delivery")
    finally:
        conn.sock.settimeout(None)
    conn.send(b"DONE\r\n")
    line = conn.readline()
    while not line.startswith(tag):
        line = conn.readline()
    if not line.startswith(tag + b" OK"):
        sys.exit(f"FAIL IDLE DONE: {line!r}")
    return count


def main():
    host, port, user, password = sys.argv[1:5]
    port = int(port)
    if os.environ.get("IMAPLIB_DEBUG"):
        imaplib.Debug = 4

    c = imaplib.IMAP4(host, port)
    ok("LOGIN", c.login(user, password))
    caps = set(ok("CAPABILITY", c.capability())[0].decode().upper().split())
    for cap in ("IMAP4REV1", "UIDPLUS", "MOVE", "IDLE"):
        if cap not in caps:
            FAILURES.append(f"CAPABILITY lacks {cap}: {sorted(caps)}")

    ok("CREATE Work", c.create("Work"))
    listed = ok("LIST", c.list('""', "*"))
    names = {re.search(rb' "?([^" ]+)"?$', l).group(1).decode() for l in listed}
    check("LIST names", {"INBOX", "Work"} <= names, True)

    exists = int(ok("SELECT INBOX", c.select("INBOX"))[0])
    check("SELECT INBOX EXISTS of a new account", exists, 0)

    msgs = [
        message(1, "apple =?UTF-8?Q?p=C3=AFe?=", "Bake at 180 degrees."),
        message(2, "banana bread", "Mash three bananas."),
        message(3, "cherry tart", "Pit the cherries."),
    ]
    date = imaplib.Time2Internaldate(time.mktime((2026, 11, 27, 12, 0, 0, 0, 0, -1)))
    uids = []
    for i, m in enumerate(msgs):
        flags = r"(\Seen)" if i == 1 else None
        resp = ok(f"APPEND {i + 1}", c.append("INBOX", flags, date, m))
        # [APPENDUID validity uid] from UIDPLUS.
        mm = re.search(rb"APPENDUID (\d+) (\d+)", resp[0])
        if not mm:
            sys.exit(f"FAIL APPEND {i + 1}: no APPENDUID in {resp!r}")
        uids.append(int(mm.group(2)))
    check("APPENDUIDs ascending", sorted(set(uids)) == uids, True)
    ok("NOOP", c.noop())
    check("EXISTS after 3 APPENDs", c.untagged_responses.get("EXISTS", [b"?"])[-1], b"3")
    all_uids = ",".join(map(str, uids))

    got = fetch_map(c, all_uids, "(UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[])")
    check("UID FETCH count", sorted(got), uids)
    for i, uid in enumerate(uids):
        resp = got.get(uid, b"")
        check(f"RFC822.SIZE of {uid}", re.search(rb"RFC822\.SIZE (\d+)", resp) and
              int(re.search(rb"RFC822\.SIZE (\d+)", resp).group(1)), len(msgs[i]))
        check(f"BODY[] of {uid} holds the appended bytes", msgs[i] in resp, True)
        subject = msgs[i].split(b"Subject: ")[1].split(b"\r\n")[0]
        check(f"ENVELOPE subject of {uid}", b'"' + subject + b'"' in resp, True)
        check(f"\\Seen on {uid}", b"\\Seen" in resp, i == 1)

    got = fetch_map(c, str(uids[0]), "(BODYSTRUCTURE)")
    bs = got.get(uids[0], b"")
    check("BODYSTRUCTURE of a text/plain message",
          re.search(rb'BODYSTRUCTURE \("TEXT" "PLAIN"', bs, re.I) is not None, True)

    got = fetch_map(c, str(uids[2]), "(BODY[HEADER.FIELDS (SUBJECT)])")
    check("BODY[HEADER.FIELDS (SUBJECT)]", b"Subject: cherry tart\r\n\r\n" in got.get(uids[2], b""), True)
    got = fetch_map(c, str(uids[2]), "(FLAGS)")
    check("\\Seen set by a non-peek BODY[] fetch", b"\\Seen" in got.get(uids[2], b""), True)

    check("UID SEARCH SUBJECT banana", search(c, "SUBJECT", "banana"), [uids[1]])
    # 8-bit search text goes as a literal; it must match the decoded
    # RFC 2047 subject of message 1.
    c.literal = "pïe".encode()
    check("UID SEARCH CHARSET UTF-8 SUBJECT {pïe}", search(c, "CHARSET", "UTF-8", "SUBJECT"), [uids[0]])
    check("UID SEARCH BODY cherries", search(c, "BODY", "cherries"), [uids[2]])
    check("UID SEARCH UNSEEN", search(c, "UNSEEN"), [uids[0]])
    check("UID SEARCH ALL", search(c, "ALL"), uids)

    resp = ok("UID STORE +FLAGS", c.uid("STORE", str(uids[0]), "+FLAGS", r"(\Flagged)"))
    check("UID STORE +FLAGS answer has \\Flagged", any(b"\\Flagged" in r for r in resp if r), True)
    ok("UID STORE -FLAGS.SILENT", c.uid("STORE", str(uids[1]), "-FLAGS.SILENT", r"(\Seen)"))
    check("UID SEARCH FLAGGED", search(c, "FLAGGED"), [uids[0]])
    check("UID SEARCH SEEN", search(c, "SEEN"), [uids[2]])

    ok("UID COPY", c.uid("COPY", str(uids[0]), "Work"))
    # imaplib files the tagged OK's [COPYUID validity src dst] under "COPYUID".
    copyuid = c.response("COPYUID")[1][-1] or b""
    check("COPYUID source UID", copyuid.split()[1:2], [str(uids[0]).encode()])
    c.untagged_responses.pop("EXPUNGE", None)
    ok("UID MOVE", c.uid("MOVE", str(uids[1]), "Work"))
    check("EXPUNGE responses to UID MOVE", c.untagged_responses.pop("EXPUNGE", None), [b"2"])
    check("UID SEARCH ALL after MOVE", search(c, "ALL"), [uids[0], uids[2]])
    ok("UID STORE \\Deleted", c.uid("STORE", str(uids[0]), "+FLAGS.SILENT", r"(\Deleted)"))
    expunged = ok("EXPUNGE", c.expunge())
    check("EXPUNGE responses", expunged, [b"1"])
    check("UID SEARCH ALL after EXPUNGE", search(c, "ALL"), [uids[2]])

    st = ok("STATUS Work", c.status("Work", "(MESSAGES UNSEEN)"))[0]
    check("STATUS Work", re.search(rb"MESSAGES (\d+)", st).group(1), b"2")

    # IDLE in INBOX while a second connection appends.
    def deliver():
        d = imaplib.IMAP4(host, port)
        ok("second LOGIN", d.login(user, password))
        ok("second APPEND", d.append("INBOX", None, None, message(4, "during idle", "Hi.")))
        d.logout()

    check("IDLE: EXISTS after another connection's APPEND", idle_until_exists(c, deliver), 2)
    got = fetch_map(c, "*", "(ENVELOPE)")
    check("ENVELOPE of the message delivered during IDLE",
          any(b'"during idle"' in v for v in got.values()), True)

    c.close()
    c.logout()

    if FAILURES:
        print("imaplib flow: %d mismatches" % len(FAILURES))
        for f in FAILURES:
            print(" -", f)
        sys.exit(1)
    print("imaplib flow: ok")


if __name__ == "__main__":
    main()
