package tls13rec

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"syscall"
)

// keepLast is the largest record a Recorder keeps a copy of, to prove
// its count with at Detach; a connection whose last record in either
// direction was longer stays with its tls.Conn (RefusedRecordBig). The
// server's records are at most a flush of the session's 4 KiB buffered
// writer (crypto/tls sizes its records by what it is given), and a
// client's last record before it waits is a short command; what is
// copied is reused, one buffer a direction.
const keepLast = 4<<10 + 512

// maxTrials bounds the protected records of a direction tried under its
// application secret before one opens: the rest of the handshake flight
// (EncryptedExtensions, Certificate, CertificateVerify, Finished) is a
// few records.
const maxTrials = 16

// Refusal is why Detach left a connection on its tls.Conn; its text is
// a metric label.
type Refusal string

func (r Refusal) Error() string { return "tls13rec: not detached: " + string(r) }

// The reasons Detach refuses.
const (
	RefusedTLS12      Refusal = "tls12"           // not TLS 1.3 (no traffic secrets to take)
	RefusedNoSecrets  Refusal = "tls_keylog"      // the key log did not give both secrets
	RefusedNoRecords  Refusal = "tls_count"       // no application-data record found in a direction
	RefusedRecordBig  Refusal = "tls_record_big"  // the last record was not kept (longer than keepLast)
	RefusedMidRecord  Refusal = "tls_mid_record"  // a record half read or half written
	RefusedVerify     Refusal = "tls_verify"      // the last record does not open with the candidate key and number
	RefusedNotAppData Refusal = "tls_not_appdata" // the last record was a KeyUpdate, an alert or a ticket
	RefusedUsed       Refusal = "tls_detached"    // Detach ran already
)

// Refusals lists every reason Detach gives, for metrics.
var Refusals = [...]Refusal{RefusedTLS12, RefusedNoSecrets, RefusedNoRecords, RefusedRecordBig,
	RefusedMidRecord, RefusedVerify, RefusedNotAppData, RefusedUsed}

// Recorder sits between a TCP socket and the tls.Conn on it (Server): it
// passes every byte through unchanged, and watches the record headers
// both ways. The tls.Conn's key log (tls.Config.KeyLogWriter, per
// connection) gives it the client's and the server's first application
// traffic secrets; the first record of each direction that opens with
// its secret at sequence number 0 marks where the handshake keys end,
// and every record after it is counted. A record of a KeyUpdate's length
// that opens as one moves the direction to the next secret, counted
// from 0 (keyUpdate). Detach proves the count.
type Recorder struct {
	net.Conn // the TCP socket

	mu             sync.Mutex
	client         bool   // r is under a client's tls.Conn (tests)
	inSecret       []byte // the peer's current application traffic secret
	outSecret      []byte // ours
	suite          *suite // found by the first record to open
	in, out        recordCounter
	detached, used bool
	// tls12 is set by a TLS 1.2 key log line: nothing to follow.
	tls12 bool
}

// recordCounter follows one direction's record stream.
type recordCounter struct {
	hdr  [headerLen]byte
	hdrN int
	left int  // body bytes of the current record still to come
	copy bool // the current record is copied into last

	found  bool   // a record opened under the application secret
	trials int    // records tried under it before one opened
	lost   bool   // none of the first maxTrials did: not followed
	count  uint64 // records since, that one included
	// last is the last record when it was copied (at most keepLast
	// once found), or the current one while it arrives: one buffer a
	// direction, as Detach wants a whole record (hdrN 0) anyway.
	last []byte
	big  bool // the last record was longer (not kept)
}

// Server returns a server-side TLS connection on nc with cfg, and the
// Recorder under it. cfg is cloned with the Recorder as its
// KeyLogWriter, so the secrets belong to this connection by
// construction (no client-random lookup).
func Server(nc net.Conn, cfg *tls.Config) (*tls.Conn, *Recorder) {
	r := &Recorder{Conn: nc}
	c := cfg.Clone()
	c.KeyLogWriter = keyLog{r}
	return tls.Server(r, c), r
}

// NetConn returns the TCP socket under r.
func (r *Recorder) NetConn() net.Conn { return r.Conn }

// SyscallConn gives access to the socket's descriptor.
func (r *Recorder) SyscallConn() (syscall.RawConn, error) {
	sc, ok := r.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("tls13rec: socket is not a syscall.Conn")
	}
	return sc.SyscallConn()
}

// errDetached makes sure a dropped tls.Conn can never send or take a
// record after its state moved on.
var errDetached = errors.New("tls13rec: record state detached from this tls.Conn")

// Read reads from the socket and follows the client's records.
func (r *Recorder) Read(p []byte) (int, error) {
	return r.pass(r.Conn.Read, p, &r.in, &r.inSecret)
}

// Write writes to the socket and follows the server's records (those
// the socket took).
func (r *Recorder) Write(p []byte) (int, error) {
	return r.pass(r.Conn.Write, p, &r.out, &r.outSecret)
}

// pass moves p through the socket with io (its Read or Write) unless the
// state is detached, and follows the n bytes that went through in one
// direction.
func (r *Recorder) pass(io func([]byte) (int, error), p []byte, d *recordCounter, secret *[]byte) (int, error) {
	r.mu.Lock()
	detached := r.detached
	r.mu.Unlock()
	if detached {
		return 0, errDetached
	}
	n, err := io(p)
	r.mu.Lock()
	r.follow(d, secret, p[:n])
	r.mu.Unlock()
	return n, err
}

// follow feeds b, the next bytes of one direction, to its counter (r.mu
// held).
func (r *Recorder) follow(d *recordCounter, secret *[]byte, b []byte) {
	for len(b) > 0 {
		if d.hdrN < headerLen {
			k := copy(d.hdr[d.hdrN:], b)
			d.hdrN += k
			b = b[k:]
			if d.hdrN < headerLen {
				return
			}
			d.left = int(d.hdr[3])<<8 | int(d.hdr[4])
			// Before the application secret is found, every protected
			// record is a candidate, copied whole; after, the small
			// ones are kept for Detach.
			d.copy = d.hdr[0] == typeApplicationData && !d.lost && !r.tls12 &&
				(!d.found || headerLen+d.left <= keepLast)
			d.last = d.last[:0]
			if d.copy {
				d.last = append(d.last, d.hdr[:]...)
			}
		}
		k := min(d.left, len(b))
		if d.copy {
			d.last = append(d.last, b[:k]...)
		}
		d.left -= k
		b = b[k:]
		if d.left == 0 {
			r.record(d, secret)
			d.hdrN = 0
		}
	}
}

// record handles a complete record of one direction (r.mu held);
// *secret is the direction's current application traffic secret.
func (r *Recorder) record(d *recordCounter, secretp *[]byte) {
	if d.hdr[0] != typeApplicationData {
		return // ChangeCipherSpec, or the handshake before encryption
	}
	secret := *secretp
	if d.found {
		d.count++
		d.big = !d.copy
		if d.copy && len(d.last) == headerLen+keyUpdateRecord && r.keyUpdate(d, secret) {
			// The next secret from the next record on; the
			// KeyUpdate itself proves nothing of it.
			*secretp = r.suite.nextSecret(secret)
			d.count, d.last = 0, d.last[:0]
		}
		return
	}
	if secret == nil || d.lost || r.tls12 {
		return // under handshake keys: the secret comes before its records
	}
	if d.trials++; d.trials > maxTrials {
		// A handshake flight is a few records: this connection is not
		// one crypto/tls keyed as its key log said.
		d.lost, d.last = true, nil
		return
	}
	for i := range suites {
		s := &suites[i]
		if r.suite != nil && r.suite != s || s.hashLen != len(secret) {
			continue
		}
		h, err := newHalfConn(s, secret, 0)
		if err != nil {
			continue
		}
		if _, _, err := h.open(bytes.Clone(d.last)); err == nil {
			r.suite = s
			d.found, d.count = true, 1
			// The handshake's buffer (a certificate fills a record)
			// goes; the copy grows to the records kept.
			d.big = len(d.last) > keepLast
			if d.big {
				d.last = nil
			} else {
				d.last = bytes.Clone(d.last)
			}
			return
		}
	}
}

// keyUpdateRecord is the protected length of a record that holds a
// KeyUpdate alone, unpadded: the message (5), its content type, the tag.
const keyUpdateRecord = 5 + 1 + tagLen

// keyUpdate reports whether d's last record, of a KeyUpdate's length,
// is one: it opens with secret at its sequence number and holds a
// KeyUpdate message alone (r.mu held). A KeyUpdate it cannot see (padded,
// or sent with another message) leaves the count behind the tls.Conn's,
// and Detach's proof fails: the connection keeps its tls.Conn.
func (r *Recorder) keyUpdate(d *recordCounter, secret []byte) bool {
	h, err := newHalfConn(r.suite, secret, d.count-1)
	if err != nil {
		return false
	}
	typ, msg, err := h.open(bytes.Clone(d.last))
	return err == nil && typ == typeHandshake && len(msg) == 5 &&
		msg[0] == handshakeKeyUpdate && msg[1] == 0 && msg[2] == 0 && msg[3] == 1 && msg[4] <= 1
}

// keyLog is the per-connection tls.Config.KeyLogWriter: it takes the two
// TLS 1.3 application traffic secrets, each line in one Write (crypto/tls
// writes a whole line at a time).
type keyLog struct{ r *Recorder }

func (k keyLog) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		secret, err := hex.DecodeString(string(f[2]))
		if err != nil {
			continue
		}
		k.r.mu.Lock()
		client, server := &k.r.inSecret, &k.r.outSecret
		if k.r.client {
			client, server = server, client
		}
		switch string(f[0]) {
		case "CLIENT_RANDOM":
			k.r.tls12 = true
		case "CLIENT_TRAFFIC_SECRET_0":
			*client = secret
		case "SERVER_TRAFFIC_SECRET_0":
			*server = secret
		}
		k.r.mu.Unlock()
	}
	return len(p), nil
}

// Detach returns the record state of the TLS 1.3 connection tc, whose
// socket is under r, after proving it: the last record of each direction
// must open with the candidate secret at the candidate sequence number
// (its count minus one) and hold application data, so that a KeyUpdate
// or any record r did not count keeps the connection on its tls.Conn
// instead of a guess. The caller must have checked that tc holds no
// input above the socket, and must not use tc after a nil error: r
// refuses its reads and writes from then on. The error is a Refusal.
func (r *Recorder) Detach(tc *tls.Conn) (State, error) {
	cs := tc.ConnectionState()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.used:
		return State{}, RefusedUsed
	case cs.Version != tls.VersionTLS13:
		return State{}, RefusedTLS12
	case r.inSecret == nil || r.outSecret == nil:
		return State{}, RefusedNoSecrets
	case !r.in.found || !r.out.found || r.suite == nil || r.suite.id != cs.CipherSuite,
		r.in.count == 0 || r.out.count == 0: // nothing under the current secret yet
		return State{}, RefusedNoRecords
	case r.in.hdrN != 0 || r.out.hdrN != 0:
		return State{}, RefusedMidRecord
	case r.in.big || r.out.big:
		return State{}, RefusedRecordBig
	}
	for _, v := range []struct {
		d      *recordCounter
		secret []byte
	}{{&r.in, r.inSecret}, {&r.out, r.outSecret}} {
		h, err := newHalfConn(r.suite, v.secret, v.d.count-1)
		if err != nil {
			return State{}, RefusedVerify
		}
		typ, _, err := h.open(bytes.Clone(v.d.last))
		if err != nil {
			return State{}, RefusedVerify
		}
		if typ != typeApplicationData {
			return State{}, RefusedNotAppData
		}
	}
	r.used, r.detached = true, true
	st := State{
		Suite:       r.suite.id,
		ReadSecret:  r.inSecret,
		ReadSeq:     r.in.count,
		WriteSecret: r.outSecret,
		WriteSeq:    r.out.count,
	}
	r.inSecret, r.outSecret = nil, nil
	r.in, r.out = recordCounter{}, recordCounter{}
	return st, nil
}
