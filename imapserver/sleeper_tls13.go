package imapserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/internal/tls13rec"
)

// A TLS 1.3 connection sleeps on its record state alone (docs/design.md,
// "TLS 1.3 sleepers"): the cipher suite, the two traffic secrets and the
// two sequence numbers, kept in its blob (hibernate.ExtTLSRecord), with
// a bare descriptor like a plain sleeper. What it says asleep is sealed
// with the next write sequence number and what it reads opened with the
// next read one; the owner's copy (sleeper.rec) is the current one, and
// is put back into the blob whenever the sleeper is re-armed or handed
// on (finish, fullWake), so that a sequence number is never used twice.
// After a wake the session runs on a tls13rec.Conn, which hibernates the
// same way. A TLS 1.2 connection, or a TLS 1.3 one whose record count
// the Recorder under its tls.Conn cannot prove, sleeps with its tls.Conn
// as before (counted by reason, Metrics.keptTLSConn).

// tlsRecord is the record state of a TLS 1.3 sleeper while it has an
// owner.
type tlsRecord struct {
	st tls13rec.State
	// in is raw input read asleep and not opened (part of a record, or
	// a KeyUpdate or an alert): the woken Conn reads it first.
	in []byte
	// raw is all the raw input this owner read, opened or not, after
	// what it was given to read first: what it holds for the rest to
	// come (hibernate_held.go), with the read sequence number put back.
	raw []byte
}

// errRecordWake says a TLS 1.3 sleeper read a record it does not handle
// asleep (a KeyUpdate, an alert, part of a record): a full wake's Conn
// does.
var errRecordWake = errors.New("tls record for a full wake")

// errClosedNotify says a TLS 1.3 sleeper read its client's close_notify
// (or an error alert): the connection ends without a wake.
var errClosedNotify = errors.New("tls: client closed the connection")

// recordOf returns the record state st keeps, nil for a connection
// without one.
func recordOf(st *hibernate.State) (*tlsRecord, error) {
	for _, x := range st.ExtState {
		if x.Kind == hibernate.ExtTLSRecord {
			r := new(tlsRecord)
			if err := r.st.UnmarshalBinary(x.Data); err != nil {
				return nil, err
			}
			return r, nil
		}
	}
	return nil, nil
}

// setRecord stores r in st, replacing the record state st kept; the
// kind is the highest, so it goes last.
func setRecord(st *hibernate.State, r *tlsRecord) error {
	data, err := r.st.AppendBinary(nil)
	if err != nil {
		return err
	}
	for i := range st.ExtState {
		if st.ExtState[i].Kind == hibernate.ExtTLSRecord {
			st.ExtState[i].Data = data
			return nil
		}
	}
	st.ExtState = append(st.ExtState, hibernate.ExtState{Kind: hibernate.ExtTLSRecord, Data: data})
	return nil
}

// blobWithRecord returns blob with r as its record state.
func blobWithRecord(blob []byte, r *tlsRecord) ([]byte, error) {
	var st hibernate.State
	if err := st.UnmarshalBinary(blob); err != nil {
		return nil, err
	}
	if err := setRecord(&st, r); err != nil {
		return nil, err
	}
	return st.MarshalBinary()
}

// sleeperOf returns the transport of a sleeper from its table entry.
func sleeperOf(fd int, tc *tls.Conn, blob []byte) (sleeper, error) {
	var st hibernate.State
	if err := st.UnmarshalBinary(blob); err != nil {
		return sleeper{fd: fd, tc: tc}, err
	}
	rec, err := recordOf(&st)
	return sleeper{fd: fd, tc: tc, rec: rec, deflate: compressed(&st)}, err
}

// detachTLS takes a TLS connection from its session (c.mu held): a TLS
// 1.3 one's record state goes into st and its socket becomes a bare
// descriptor; otherwise the sleeper keeps the tls.Conn.
func (c *conn) detachTLS(tc *tls.Conn, st *hibernate.State) (sleeper, error) {
	if tlsPending(tc) {
		return sleeper{}, errNotExportable("tls_pending")
	}
	r, ok := tc.NetConn().(*tls13rec.Recorder)
	if !ok {
		return c.keepTLSConn(tc, keptNoRecorder)
	}
	rs, err := r.Detach(tc)
	var refusal tls13rec.Refusal
	if errors.As(err, &refusal) {
		return c.keepTLSConn(tc, string(refusal))
	}
	if err != nil {
		return sleeper{}, fmt.Errorf("%w: %w", errNotExportable("detach"), err)
	}
	return c.detachRecord(r.NetConn(), &tlsRecord{st: rs}, st)
}

// keptNoRecorder is why a tls.Conn made without tls13rec.Server keeps
// its tls.Conn asleep (a metric label).
const keptNoRecorder = "tls_no_recorder"

// keepTLSConn is a TLS sleeper that keeps its tls.Conn, counted by why.
func (c *conn) keepTLSConn(tc *tls.Conn, reason string) (sleeper, error) {
	s, err := tlsSleeper(tc)
	if err != nil {
		return sleeper{}, fmt.Errorf("%w: %w", errNotExportable("detach"), err)
	}
	c.log.Debug("tls sleeper keeps its tls.Conn", "reason", reason)
	c.srv.cfg.Metrics.keptTLSConn(reason)
	// The hibernator owns tc now: a Shutdown that force-closes
	// this session's leftovers must not reach it.
	c.nc = nil
	return s, nil
}

// detachRecord detaches nc, the socket under a TLS 1.3 connection whose
// record state r was taken out (c.mu held). The state has left the
// tls.Conn (or Conn) above nc for good: should the descriptor not come
// out (no descriptor left to dup), the connection ends, as after a
// failed write.
func (c *conn) detachRecord(nc net.Conn, r *tlsRecord, st *hibernate.State) (sleeper, error) {
	err := setRecord(st, r)
	fd := -1
	if err == nil {
		fd, err = hibernate.Detach(nc)
	}
	if err != nil {
		nc.Close()
		return sleeper{}, fmt.Errorf("%w: %w", errNotExportable("detach"), err)
	}
	return sleeper{fd: fd, rec: r}, nil
}

// detachConn takes a session on a tls13rec.Conn (after a wake) to sleep
// again (c.mu held).
func (c *conn) detachConn(rc *tls13rec.Conn, st *hibernate.State) (sleeper, error) {
	if rc.Pending() {
		return sleeper{}, errNotExportable("tls_pending")
	}
	rs, err := rc.Export()
	if err != nil {
		return sleeper{}, fmt.Errorf("%w: %w", errNotExportable("detach"), err)
	}
	return c.detachRecord(rc.NetConn(), &tlsRecord{st: rs}, st)
}

// writeRecord seals p with the next write sequence numbers and writes
// it without blocking. Part of a record written cannot be finished by
// anyone else (a woken Conn would seal again): the error is final, as
// for a tls.Conn.
func (s sleeper) writeRecord(p []byte) (int, error) {
	out, err := s.rec.st.Seal(nil, p)
	if err != nil {
		return 0, err
	}
	n, err := hibernate.WriteFDN(s.fd, out)
	if err == nil && n < len(out) {
		err = fmt.Errorf("tls sleeper: wrote %d of %d bytes", n, len(out))
	}
	return n, err
}

// readRecord reads what the client sent without blocking and opens the
// whole application-data records in it, after the raw input read before
// (s.rec.in), into p. Anything else (part of a record, a KeyUpdate, an
// alert) stays in s.rec.in for a full wake: errRecordWake when nothing
// opened, pending reports it otherwise; errClosedNotify when nothing
// opened and the next record is the client's close. At most len(p) raw
// bytes are held, so what opens fits in p.
func (s sleeper) readRecord(p []byte) (int, error) {
	held := len(s.rec.in)
	if held >= len(p) {
		return 0, errRecordWake
	}
	// Read at the end of rec.raw, which keeps it anyway; OpenData
	// leaves raw as it came.
	start := len(s.rec.raw)
	s.rec.raw = slices.Grow(s.rec.raw, len(p)-held)
	n, err := hibernate.ReadFD(s.fd, s.rec.raw[start:start+len(p)-held])
	if err != nil || n == 0 {
		return 0, err
	}
	s.rec.raw = s.rec.raw[:start+n]
	raw := s.rec.raw[start:]
	if held > 0 {
		raw = append(slices.Clip(s.rec.in), raw...)
	}
	text, used, err := s.rec.st.OpenData(p[:0], raw)
	if err != nil {
		return 0, err
	}
	s.rec.in = append(s.rec.in[:0], raw[used:]...)
	if len(text) == 0 {
		if s.rec.st.Closing(s.rec.in) {
			return 0, errClosedNotify
		}
		return 0, errRecordWake
	}
	return len(text), nil
}

// byeRecord says line and close_notify, then closes.
func (s sleeper) byeRecord(line string) {
	if out, err := s.rec.st.Seal(nil, []byte(line)); err == nil {
		if out, err = s.rec.st.CloseNotify(out); err == nil {
			hibernate.WriteFDN(s.fd, out)
		}
	}
	hibernate.CloseFD(s.fd)
}

// connRecord hands a TLS 1.3 sleeper's socket back to the runtime under
// a Conn on its record state, with the raw input read asleep.
func (s sleeper) connRecord() (net.Conn, error) {
	nc, err := hibernate.Attach(s.fd)
	if err != nil {
		return nil, err
	}
	rc, err := tls13rec.NewConn(nc, s.rec.st, s.rec.in)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return rc, nil
}

// connTransport is plain, tls13 or tls12 for nc.
func connTransport(nc net.Conn) string {
	switch nc := nc.(type) {
	case *tls.Conn:
		return tlsTransport(nc)
	case *tls13rec.Conn:
		return "tls13"
	}
	return "plain"
}

// tlsTransport is tls13 or tls12, by tc's version.
func tlsTransport(tc *tls.Conn) string {
	if tc.ConnectionState().Version == tls.VersionTLS13 {
		return "tls13"
	}
	return "tls12"
}

// transport is plain, tls13 or tls12 for a sleeper.
func (s sleeper) transport() string {
	switch {
	case s.rec != nil:
		return "tls13"
	case s.tc != nil:
		return tlsTransport(s.tc)
	}
	return "plain"
}
