package main

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// maxResponse bounds what a client keeps of one server response.
const maxResponse = 1 << 20

// conn is one client connection of the fleet: an imaptest.Conn over TCP,
// TLS, and COMPRESS=DEFLATE when the server offers it and the kind asks
// for it. One goroutine owns it.
type conn struct {
	*imaptest.Conn
	stop       func() bool // unregisters the close at the end of the run
	compressed bool
	idleTag    string
	caps       map[string]bool
	uidNext    uint32 // the UIDNEXT of the selected mailbox, as the client knows it
	exists     uint32 // the EXISTS count of the selected mailbox
	// grew, when set, is called when a response raises the EXISTS
	// count, in IDLE or in any command's responses (a NOOP, a DONE's):
	// a client shows the new mail whichever brought it; watching says
	// which.
	grew     func(watching bool)
	watching bool
}

// habits are the transport habits of a kind (fleet.go, kinds).
type habits struct {
	tls, compress, utf8 bool
}

// dial connects to the server (the TLS address for TLS) and reads the
// greeting.
func dial(ctx context.Context, c *config, h habits) (*conn, error) {
	d := net.Dialer{Timeout: c.StepTO}
	addr := c.Addr
	if h.tls {
		addr = c.TLSAddr
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if h.tls {
		tc := tls.Client(nc, c.TLS)
		tc.SetDeadline(time.Now().Add(c.StepTO))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		nc = tc
	}
	ic := imaptest.New(nc, 4096)
	ic.Keep = maxResponse
	ic.Timeout = c.StepTO
	cn := &conn{Conn: ic}
	g, err := cn.ReadResponse()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting: %q", g)
	}
	return cn, nil
}

// login logs in, reads the capabilities, and turns on what the habits
// ask for and the server offers: COMPRESS=DEFLATE (RFC 4978), UTF8=ACCEPT
// (as Thunderbird does).
func (cn *conn) login(user, password string, h habits) error {
	if err := cn.Login(user, password); err != nil {
		return err
	}
	var caps []string
	if _, err := cn.run("CAPABILITY", func(r string) {
		if after, ok := strings.CutPrefix(r, "* CAPABILITY "); ok {
			caps = strings.Fields(after)
		}
	}); err != nil {
		return err
	}
	cn.caps = make(map[string]bool, len(caps))
	for _, c := range caps {
		cn.caps[strings.ToUpper(c)] = true
	}
	if h.utf8 && cn.caps["UTF8=ACCEPT"] {
		if _, err := cn.run("ENABLE UTF8=ACCEPT", nil); err != nil {
			return err
		}
	}
	if h.compress && cn.caps["COMPRESS=DEFLATE"] {
		if _, err := cn.run("COMPRESS DEFLATE", nil); err != nil {
			return err
		}
		// The server compresses from the byte after its OK on, and has
		// sent nothing since: the reader holds nothing of it.
		nc := cn.NetConn()
		d := &deflateConn{Conn: nc, r: flate.NewReader(nc)}
		d.w = mustFlateWriter(&d.out)
		cn.Conn = wrapConn(cn.Conn, d)
		cn.compressed = true
	}
	return nil
}

// Close closes the connection.
func (cn *conn) Close() error {
	if cn.stop != nil {
		cn.stop()
	}
	return cn.Conn.Close()
}

// clearDeadline lets the next read wait as long as the server is quiet.
func (cn *conn) clearDeadline() { cn.NetConn().SetReadDeadline(time.Time{}) }

// idle sends IDLE and reads to its continuation.
func (cn *conn) idle() error {
	cn.idleTag = cn.NextTag()
	if err := cn.Send(cn.idleTag + " IDLE"); err != nil {
		return err
	}
	for {
		r, err := cn.ReadResponse()
		if err != nil {
			return fmt.Errorf("IDLE: %w", err)
		}
		if strings.HasPrefix(r, "+") {
			return nil
		}
		if strings.HasPrefix(r, cn.idleTag+" ") {
			return fmt.Errorf("IDLE: %s", r)
		}
		cn.note(r)
	}
}

// done ends the IDLE and reads its tagged response.
func (cn *conn) done() error {
	if err := cn.Send("DONE"); err != nil {
		return err
	}
	cn.NetConn().SetReadDeadline(time.Now().Add(cn.Timeout))
	st, err := cn.ReadTagged(cn.idleTag, cn.note)
	if err == nil && !imaptest.IsOK(st) {
		err = fmt.Errorf("DONE: %s", st)
	}
	return err
}

// wrapConn returns an imaptest.Conn like old over nc.
func wrapConn(old *imaptest.Conn, nc net.Conn) *imaptest.Conn {
	ic := imaptest.New(nc, 4096)
	ic.Keep, ic.Timeout = old.Keep, old.Timeout
	ic.TagPrefix = "z" // tags go on unique after the switch
	return ic
}

// run sends cmd with a new tag and reads to its tagged response; a
// status other than OK is an error. each sees the untagged responses
// (nil: dropped); EXISTS and [UIDNEXT n] are noted on the way.
func (cn *conn) run(cmd string, each func(string)) (string, error) {
	st, err := cn.Command(cmd, func(r string) {
		cn.note(r)
		if each != nil {
			each(r)
		}
	})
	if err == nil && !imaptest.IsOK(st) {
		err = fmt.Errorf("%s: %s", imaptest.Verb(cmd), st)
	}
	return st, err
}

var (
	reExists  = regexp.MustCompile(`^\* ([0-9]+) EXISTS$`)
	reUIDNext = regexp.MustCompile(`\[UIDNEXT ([0-9]+)\]`)
	reUID     = regexp.MustCompile(`[( ]UID ([0-9]+)[ )]`)
)

// note keeps the counts a client keeps from an untagged response.
func (cn *conn) note(r string) {
	if m := reExists.FindStringSubmatch(r); m != nil {
		n, _ := strconv.ParseUint(m[1], 10, 32)
		if uint32(n) > cn.exists && cn.grew != nil {
			cn.grew(cn.watching)
		}
		cn.exists = uint32(n)
		return
	}
	if m := reUIDNext.FindStringSubmatch(r); m != nil {
		n, _ := strconv.ParseUint(m[1], 10, 32)
		cn.uidNext = uint32(n)
		return
	}
	if strings.Contains(r, " FETCH (") {
		if m := reUID.FindStringSubmatch(r); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			if uint32(n) >= cn.uidNext {
				cn.uidNext = uint32(n) + 1
			}
		}
	}
}

// isExists reports whether r is an EXISTS response.
func isExists(r string) bool { return reExists.MatchString(r) }

// deflateConn is a net.Conn under COMPRESS=DEFLATE: raw DEFLATE both
// ways, each write flushed (RFC 4978 4) and sent in one write, as zlib
// clients send what one deflate call gave (compress/flate's Writer may
// hand a flush to its writer in pieces, which over TLS would be records
// of their own).
type deflateConn struct {
	net.Conn
	r   io.ReadCloser
	w   *flate.Writer
	out bytes.Buffer // what w gave for the write in progress
}

func mustFlateWriter(w io.Writer) *flate.Writer {
	fw, err := flate.NewWriter(w, flate.DefaultCompression)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return fw
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.r.Read(p) }

func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	if err == nil {
		_, err = d.Conn.Write(d.out.Bytes())
	}
	d.out.Reset()
	return n, err
}
