#!/usr/bin/env python3
"""Writes zlib-*.hex: raw DEFLATE streams from real zlib, for the tests of
package inflate (a Go test must not need Python, so the streams are committed).

Run from this directory:  python3 gen_zlib.py
Deterministic: the same zlib gives the same files.

Each file is a sequence of segments, one per client flush:
    plain <hex>   the text the client compressed
    z <hex>       the bytes zlib emitted for it, ending in the flush
A test feeds the z bytes of one segment at a time and expects all the plain
text so far to come out before any further byte arrives.
"""
import random
import zlib

FLUSHES = {
    "partial": zlib.Z_PARTIAL_FLUSH,  # isync/mbsync: empty fixed block, bits left unsent
    "sync": zlib.Z_SYNC_FLUSH,        # RFC 4978's advice: empty stored block
    "full": zlib.Z_FULL_FLUSH,        # a sync flush that also resets the history
}


def commands(rng, n, big):
    """IMAP-like commands as a client pipelines them, with an APPEND literal now and then."""
    out = []
    for i in range(n):
        k = rng.randrange(10)
        if k < 5:
            out.append(b"%d UID STORE %d +FLAGS.SILENT (\\Seen)\r\n" % (i, rng.randrange(1, 5000)))
        elif k < 7:
            out.append(b"%d NOOP\r\n" % i)
        elif k < 9:
            out.append(b"%d UID FETCH %d:* (UID FLAGS BODY.PEEK[HEADER])\r\n" % (i, rng.randrange(1, 500)))
        else:
            size = rng.choice([10, 300, 2000, 40000 if big else 1000])
            if size <= 2000 and rng.random() < 0.5:
                body = bytes(rng.randrange(256) for _ in range(size))  # incompressible
            else:
                body = (b"Subject: hello %d\r\n\r\nbody text " % i) * (size // 30 + 1)
                body = body[:size]
            out.append(b"%d APPEND INBOX {%d+}\r\n" % (i, size) + body + b"\r\n")
    return out


def stream(level, flush, seed, per_flush, big):
    rng = random.Random(seed)
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    segs = []
    cmds = commands(rng, 40, big)
    for i in range(0, len(cmds), per_flush):
        plain = b"".join(cmds[i:i + per_flush])
        z = c.compress(plain) + c.flush(FLUSHES[flush])
        segs.append((plain, z))
    return segs


def main():
    for flush in FLUSHES:
        for level in (0, 1, 6, 9):
            for per_flush in (1, 7):
                # One stream of each flush has 40,000-byte APPENDs (past the window).
                big = (level, per_flush) == (6, 7)
                segs = stream(level, flush, seed=level * 100 + per_flush, per_flush=per_flush, big=big)
                name = "zlib-%s-l%d-n%d.hex" % (flush, level, per_flush)
                with open(name, "w") as f:
                    f.write("# zlib %s, level %d, Z_%s_FLUSH after every %d command(s); see gen_zlib.py\n"
                            % (zlib.ZLIB_VERSION, level, flush.upper(), per_flush))
                    for plain, z in segs:
                        f.write("plain %s\nz %s\n" % (plain.hex(), z.hex()))


if __name__ == "__main__":
    main()
