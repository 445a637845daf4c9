#!/usr/bin/env python3
"""Drive CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4) with Python's imaplib,
which has no method for them: UID SEARCH and UID SORT with RETURN (UPDATE)
go through imaplib's uid() with the return options as raw arguments, and
CANCELUPDATE is added to imaplib's command table. A second connection
appends and changes flags; the first hears ADDTO and REMOVEFROM at its
NOOPs, while the server hibernates it between commands.

Usage: imaplib_context.py HOST PORT USER PASSWORD

Run by interop/python_test.go against a fresh account; exits 1 on the first
mismatch. imaplib's debug log goes to stderr when IMAPLIB_DEBUG is set.
"""

import imaplib
import os
import re
import sys
import time

MESSAGE = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: context %d\r\n"
           b"\r\nBody %d\r\n")


def ok(what, typ_data):
    typ, data = typ_data
    if typ != "OK":
        sys.exit(f"FAIL {what}: {typ} {data!r}")
    return data


def esearch(c):
    """The untagged ESEARCH responses imaplib has collected, as text."""
    _, data = c._untagged_response("OK", [None], "ESEARCH")
    return [d.decode() for d in data if d is not None]


def tag_of(line):
    m = re.match(r'\(TAG "([^"]+)"\)', line)
    if not m:
        sys.exit(f"FAIL no search correlator in {line!r}")
    return m.group(1)


def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL {what}: got {got!r}, want {want!r}")


def main():
    host, port, user, password = sys.argv[1:5]
    if os.environ.get("IMAPLIB_DEBUG"):
        imaplib.Debug = 4
    imaplib.Commands["CANCELUPDATE"] = ("SELECTED",)
    other = imaplib.IMAP4(host, int(port))
    ok("LOGIN other", other.login(user, password))
    for n in range(1, 4):
        ok("APPEND", other.append("INBOX", None, None, MESSAGE % (n, n)))

    c = imaplib.IMAP4(host, int(port))
    ok("LOGIN", c.login(user, password))
    caps = ok("CAPABILITY", c.capability())[0].decode().upper().split()
    for cap in ("CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT"):
        if cap not in caps:
            sys.exit(f"FAIL CAPABILITY lacks {cap}: {caps}")
    ok("SELECT", c.select("INBOX"))

    ok("UID SEARCH", c.uid("SEARCH", "RETURN", "(UPDATE)", "UNSEEN"))
    [line] = esearch(c)
    search = tag_of(line)
    expect("UID SEARCH result", line, f'(TAG "{search}") UID ALL 1:3')
    ok("UID SORT", c.uid("SORT", "RETURN", "(UPDATE)", "(REVERSE ARRIVAL)", "UTF-8", "UNSEEN"))
    [line] = esearch(c)
    sort = tag_of(line)
    expect("UID SORT result", line, f'(TAG "{sort}") UID ALL 3,2,1')

    # Let the server hibernate this quiet connection, then change the
    # mailbox from the other one.
    time.sleep(0.2)
    ok("APPEND 4", other.append("INBOX", None, None, MESSAGE % (4, 4)))
    ok("SELECT other", other.select("INBOX"))
    ok("STORE", other.store("2", "+FLAGS.SILENT", "(\\Seen)"))
    time.sleep(0.2)
    ok("NOOP", c.noop())
    expect("updates", esearch(c), [
        f'(TAG "{search}") UID REMOVEFROM (0 2) ADDTO (0 4)',
        f'(TAG "{sort}") UID REMOVEFROM (2 2) ADDTO (1 4)',
    ])

    ok("CANCELUPDATE", c._simple_command("CANCELUPDATE", f'"{search}"'))
    typ, _ = c._simple_command("CANCELUPDATE", f'"{search}"')
    expect("CANCELUPDATE again", typ, "NO")
    ok("STORE 3", other.store("3", "+FLAGS.SILENT", "(\\Seen)"))
    time.sleep(0.2)
    ok("NOOP", c.noop())
    expect("updates after CANCELUPDATE", esearch(c), [f'(TAG "{sort}") UID REMOVEFROM (2 3)'])

    ok("CLOSE", c.close())
    c.logout()
    other.logout()
    print("imaplib context: ok")


if __name__ == "__main__":
    main()
