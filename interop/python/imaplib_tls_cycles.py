"""Hibernate/wake cycles over implicit TLS 1.3 with Python's ssl (OpenSSL).

Usage: imaplib_tls_cycles.py HOST PORT USER PASS CYCLES

Logs in with IMAP4_SSL, selects INBOX and, CYCLES times: sends IDLE by hand,
prints "READY n" when the server acknowledged it (the Go test then waits for
the connection to hibernate and delivers message n), reads "* n EXISTS",
sends DONE, and fetches message n's body, which must be "cycle n". Prints
"imaplib tls cycles: ok" at the end; any mismatch exits non-zero.
"""
import imaplib
import ssl
import sys


def main():
    host, port, user, password, cycles = sys.argv[1:6]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    if m.sock.version() != "TLSv1.3":
        sys.exit("negotiated %s, want TLSv1.3" % m.sock.version())
    m.login(user, password)
    typ, _ = m.select("INBOX")
    assert typ == "OK", typ
    for n in range(1, int(cycles) + 1):
        tag = ("I%d" % n).encode()
        m.send(tag + b" IDLE\r\n")
        line = m.readline()
        if not line.startswith(b"+"):
            sys.exit("cycle %d: IDLE answered %r" % (n, line))
        print("READY %d" % n, flush=True)
        want = b"* %d EXISTS\r\n" % n
        while True:
            line = m.readline()
            if line == want:
                break
            if not line or not (line.startswith(b"* OK Still here") or line.endswith(b" RECENT\r\n")):
                sys.exit("cycle %d: %r while waiting for %r" % (n, line, want))
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag + b" OK"):
                break
            if not line or not line.startswith(b"* "):
                sys.exit("cycle %d: %r after DONE" % (n, line))
        typ, data = m.fetch(str(n), "(BODY.PEEK[TEXT])")
        if typ != "OK" or not data or not isinstance(data[0], tuple):
            sys.exit("cycle %d: FETCH %s %r" % (n, typ, data))
        body = data[0][1]
        if body.strip() != b"cycle %d" % n:
            sys.exit("cycle %d: body %r" % (n, body))
    m.logout()
    print("imaplib tls cycles: ok", flush=True)


if __name__ == "__main__":
    main()
