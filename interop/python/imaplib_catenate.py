#!/usr/bin/env python3
"""Drive CATENATE (RFC 4469) and URLAUTH (RFC 4467) with Python's imaplib,
which has no method for either: the APPEND goes through imaplib's own
command machinery (_simple_command) with the CATENATE list as raw arguments,
and the second message of a MULTIAPPEND as imaplib's literal; GENURLAUTH,
URLFETCH and RESETKEY are added to imaplib's command table.

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

    # URLAUTH (RFC 4467): imaplib knows no GENURLAUTH or URLFETCH, so they
    # are taught to its command table and sent raw; their untagged
    # responses land in imaplib's untagged_responses, a literal as a tuple.
    imaplib.Commands["GENURLAUTH"] = ("AUTH", "SELECTED")
    imaplib.Commands["URLFETCH"] = ("AUTH", "SELECTED")
    imaplib.Commands["RESETKEY"] = ("AUTH", "SELECTED")
    rump = f"imap://{user}@{host}/INBOX/;UID=1/;SECTION=TEXT;URLAUTH=anonymous"
    typ, data = c._simple_command("GENURLAUTH", f'"{rump}"', "INTERNAL")
    signed = c.untagged_responses.pop("GENURLAUTH", [b""])[-1].decode().strip('"')
    if typ != "OK" or not re.fullmatch(re.escape(rump) + ":INTERNAL:[0-9a-f]{64}", signed):
        sys.exit(f"FAIL GENURLAUTH: {typ} {data!r} {signed!r}")
    typ, data = c._simple_command("URLFETCH", f'"{signed}"')
    fetched = c.untagged_responses.pop("URLFETCH", [None])[0]
    if typ != "OK" or not isinstance(fetched, tuple) or fetched[1] != b"The body.\r\n":
        sys.exit(f"FAIL URLFETCH: {typ} {fetched!r}")
    ok("RESETKEY", c._simple_command("RESETKEY"))
    typ, data = c._simple_command("URLFETCH", f'"{signed}"')
    fetched = c.untagged_responses.pop("URLFETCH", [None])[0]
    if typ != "OK" or not fetched.endswith(b" NIL"):
        sys.exit(f"FAIL URLFETCH after RESETKEY: {typ} {fetched!r}")

    ok("SELECT Drafts", c.select("Drafts"))
    want = {1: b"Subject: original\r\n\r\nThe body.\r\n", 2: b"Subject: second\r\n\r\nplain\r\n"}
    for uid, w in want.items():
        got = body(c, uid)
        if got != w:
            sys.exit(f"FAIL UID {uid}: got {got!r}, want {w!r}")
    c.logout()
    print("imaplib catenate and urlauth: ok")


if __name__ == "__main__":
    main()
