#!/usr/bin/env python3
"""Drive CATENATE (RFC 4469) with Python's imaplib, which has no CATENATE
method: the APPEND goes through imaplib's own command machinery
(_simple_command) with the CATENATE list as raw arguments, and the second
message of a MULTIAPPEND as imaplib's literal.

Usage: imaplib_catenate.py HOST PORT USER PASSWORD

Run by interop/python_test.go against a fresh account; exits 1 on the first
mismatch. imaplib's debug log goes to stderr when IMAPLIB_DEBUG is set.
"""

import imaplib
import os
import re
import sys


def ok(what, typ_data):
    typ, data = typ_data
    if typ != "OK":
        sys.exit(f"FAIL {what}: {typ} {data!r}")
    return data


def body(c, uid):
    data = ok(f"UID FETCH {uid}", c.uid("FETCH", str(uid), "BODY.PEEK[]"))
    return data[0][1]


def main():
    host, port, user, password = sys.argv[1:5]
    if os.environ.get("IMAPLIB_DEBUG"):
        imaplib.Debug = 4
    c = imaplib.IMAP4(host, int(port))
    ok("LOGIN", c.login(user, password))
    caps = ok("CAPABILITY", c.capability())[0].decode().upper().split()
    if "CATENATE" not in caps:
        sys.exit(f"FAIL CAPABILITY lacks CATENATE: {caps}")
    source = b"Subject: original\r\nFrom: a@example.org\r\n\r\nThe body.\r\n"
    ok("APPEND", c.append("INBOX", None, None, source))
    ok("SELECT INBOX", c.select("INBOX"))

    # A relative URL (against the selected mailbox) and an absolute one
    # naming the server by the host imaplib connected to, without a port;
    # then a plain literal message: MULTIAPPEND.
    c.literal = b"Subject: second\r\n\r\nplain\r\n"
    typ, data = c._simple_command(
        "APPEND", "Drafts", "CATENATE",
        f'(URL ";UID=1/;SECTION=HEADER.FIELDS%20(Subject)" URL "imap://{host}/INBOX/;UID=1/;SECTION=TEXT")',
    )
    if typ != "OK":
        sys.exit(f"FAIL APPEND CATENATE: {typ} {data!r}")
    code = c.untagged_responses.get("APPENDUID", [b""])[-1]
    if not re.fullmatch(rb"\d+ 1:2", code):
        sys.exit(f"FAIL APPENDUID: {code!r}")

    # A URL into a mailbox that is not there: NO [BADURL ...].
    typ, data = c._simple_command("APPEND", "Drafts", "CATENATE", '(URL "/Nope/;UID=1")')
    if typ != "NO" or not data[0].startswith(b"[BADURL /Nope/;UID=1]"):
        sys.exit(f"FAIL APPEND CATENATE with a bad URL: {typ} {data!r}")

    ok("SELECT Drafts", c.select("Drafts"))
    want = {1: b"Subject: original\r\n\r\nThe body.\r\n", 2: b"Subject: second\r\n\r\nplain\r\n"}
    for uid, w in want.items():
        got = body(c, uid)
        if got != w:
            sys.exit(f"FAIL UID {uid}: got {got!r}, want {w!r}")
    c.logout()
    print("imaplib catenate: ok")


if __name__ == "__main__":
    main()
