package imapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/dormouse/dormouse/hibernate"
)

// sleeperIOTimeout bounds a read or write on a hibernated TLS connection.
// Writes to a sleeper (a keepalive, an update, a re-IDLE answer, a BYE)
// are a few hundred bytes that a socket with any room takes at once, and
// a read follows an epoll event, so the record is there; the bound only
// matters for a client that stopped reading, which an active IDLE would
// drop after a failed write too.
const sleeperIOTimeout = 20 * time.Millisecond

// sleeperWriteTimeout bounds a write to a hibernated TLS connection. It
// is not sleeperIOTimeout: Go fails a write whose deadline has passed
// without trying it, and crypto/tls makes a write timeout permanent (the
// record was sealed), so a serving goroutine that waited for a CPU longer
// than the bound between setting the deadline and writing lost a client
// whose socket had room. bench/fleet saw it: 2,750 TLS sleepers, their
// keepalives due together, the machine's 2 cores busy, and 37 of 1,200
// clients cut off (EOF, no BYE) within 4 minutes. A client that stopped
// reading holds its goroutine (one per TLS sleeper served) this long,
// then is dropped as before.
const sleeperWriteTimeout = time.Second

// sleeper is the transport of a hibernated connection: a bare descriptor
// detached from the Go runtime (plain TCP, hibernate.Detach; TLS 1.3 with
// its record state, sleeper_tls13.go), or, for other TLS, the *tls.Conn
// itself and the descriptor under it. Go cannot export and restore a
// tls.Conn's record state, so such a sleeper keeps its tls.Conn (see
// doc.go, "Hibernation", for its cost);
// its descriptor is watched by the hibernator's epoll beside the
// runtime's own netpoller, and everything to and from the client goes
// through tc, never the raw descriptor. Both kinds share every code path
// through these methods.
type sleeper struct {
	fd int
	tc *tls.Conn // a TLS sleeper that keeps its tls.Conn; else nil
	// rec is a TLS 1.3 sleeper's record state while it has an owner
	// (sleeper_tls13.go); its descriptor is bare, as a plain one's.
	rec *tlsRecord
	// deflate says the connection is compressed (COMPRESS DEFLATE): what
	// the sleeper says goes through wire.
	deflate bool
}

// errWouldBlock says a sleeper's read found no complete input.
var errWouldBlock = syscall.EAGAIN

// tlsSleeper returns the sleeper of a TLS connection: the descriptor
// under tc, taken without dup (tc keeps owning it).
func tlsSleeper(tc *tls.Conn) (sleeper, error) {
	sc, ok := tc.NetConn().(syscall.Conn)
	if !ok {
		return sleeper{}, fmt.Errorf("tls over %T: not a syscall.Conn", tc.NetConn())
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return sleeper{}, fmt.Errorf("tls sleeper: %w", err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return sleeper{}, fmt.Errorf("tls sleeper: %w", err)
	}
	return sleeper{fd: fd, tc: tc}, nil
}

// write sends p without blocking for long: on a bare descriptor it
// writes what the socket takes and reports how much that was (the rest
// can be finished by a woken session); through TLS it waits at most
// sleeperIOTimeout, and a failure is final, since a timed-out tls.Conn
// write leaves its record state broken.
func (s sleeper) write(p []byte) (int, error) {
	if s.rec != nil {
		return s.writeRecord(p)
	}
	if s.tc == nil {
		return hibernate.WriteFDN(s.fd, p)
	}
	s.tc.SetWriteDeadline(time.Now().Add(sleeperWriteTimeout))
	return s.tc.Write(p)
}

// read reads what the client sent without blocking for long. With no
// complete input the error is errWouldBlock: for TLS, a record that has
// not fully arrived stays buffered in tc (a read deadline error is
// temporary in crypto/tls), and its rest fires the poller again. 0 bytes
// and a nil error mean end of file.
func (s sleeper) read(p []byte) (int, error) {
	if s.rec != nil {
		return s.readRecord(p)
	}
	if s.tc == nil {
		return hibernate.ReadFD(s.fd, p)
	}
	// A write deadline too: a client's KeyUpdate asking for ours makes
	// crypto/tls write inside Read, and a deadline left from an earlier
	// write would break its record state.
	s.tc.SetDeadline(time.Now().Add(sleeperIOTimeout))
	n, err := s.tc.Read(p)
	switch {
	case n > 0:
		return n, nil
	case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		return 0, errWouldBlock
	case errors.Is(err, io.EOF):
		return 0, nil
	}
	return 0, err
}

// pending reports whether input is buffered above the socket, where the
// poller cannot see it: always false for a bare descriptor.
func (s sleeper) pending() bool {
	if s.rec != nil {
		return len(s.rec.in) > 0
	}
	return s.tc != nil && tlsPending(s.tc)
}

// isTLS reports whether s is a TLS connection's, either kind.
func (s sleeper) isTLS() bool { return s.tc != nil || s.rec != nil }

// finalWrites reports whether a failed or partial write ends the
// connection: on TLS, what was cut off cannot be finished by a woken
// session.
func (s sleeper) finalWrites() bool { return s.isTLS() }

// close ends the connection at once. For TLS it sends no close_notify:
// tls.Conn.Close would wait up to 5 s to send it (its own deadline),
// which the hibernator cannot afford for a client that stopped reading;
// see bye.
func (s sleeper) close() {
	if s.tc == nil {
		hibernate.CloseFD(s.fd)
		return
	}
	s.tc.NetConn().Close()
}

// bye says line (a BYE) and ends the connection; a TLS client that took
// the line is sent a close_notify too, as an active session's close does.
func (s sleeper) bye(line string) {
	if s.rec != nil {
		s.byeRecord(string(s.wire([]byte(line))))
		return
	}
	if _, err := s.write(s.wire([]byte(line))); err == nil && s.tc != nil {
		s.tc.Close()
		return
	}
	s.close()
}

// conn hands the connection back to the Go runtime for a woken session,
// with its deadlines cleared; it consumes s.
func (s sleeper) conn() (net.Conn, error) {
	if s.rec != nil {
		return s.connRecord()
	}
	if s.tc == nil {
		return hibernate.Attach(s.fd)
	}
	s.tc.SetDeadline(time.Time{})
	return s.tc, nil
}
