package imapserver_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/internal/imapresp"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
)

// hopProxy is a test proxy for one client, the other end of the proxy
// hop as the real proxy plays it, without TLS, NATS or sleeping sockets:
// it opens the client's session at the backend with XPROXY and relays
// bytes both ways; when the backend hands the session off (* XSLEEP) it
// keeps the blob and no connection to the backend, and it resumes the
// session on a new connection (XRESUME) when the client sends anything,
// or, for a session in IDLE, when the user's mail changed (a store
// event, standing in for a NATS notice). Its tags never reach the
// client, nor does anything of the hop.
//
// One goroutine (run) owns the state; the client's reader and each hop's
// reader only send it events, and the hop's reader alone writes to the
// client (a new hop starts only after the old one's reader ended).
type hopProxy struct {
	t       testing.TB
	backend string
	user    string
	client  net.Conn
	events  chan hopEvent
	changes chan struct{} // the user's mail changed (one pending is enough)
}

// hopEvent is one thing that happened to a hopProxy.
type hopEvent struct {
	kind hopEventKind
	data []byte // client bytes; the blob of a handoff
	read int64  // a handoff's count of bytes the backend read
}

type hopEventKind int

const (
	hopClientData hopEventKind = iota // the client sent data
	hopClientGone                     // the client closed (or failed)
	hopHandoff                        // the backend handed the session off
	hopClosed                         // the backend closed the hop (LOGOUT, BYE, error)
)

// startHopProxy starts a proxy for one client of user on a fresh port and
// returns its address; it ends when the test does, or the client goes.
func startHopProxy(t testing.TB, srv *testserver.Server, user string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		p := &hopProxy{t: t, backend: srv.Addr, user: user, client: nc,
			events: make(chan hopEvent, 16), changes: make(chan struct{}, 1)}
		cancel := srv.Store.Watch(user, "", func(mailstore.Event) {
			select {
			case p.changes <- struct{}{}:
			default: // one pending is enough: a resume reads every change
			}
		})
		defer cancel()
		p.run()
	}()
	return ln.Addr().String()
}

// run plays the proxy until the client or the backend ends the session.
func (p *hopProxy) run() {
	defer p.client.Close()
	hop, sent, err := p.open("XP1 XPROXY " + hopSecret + " " + p.user + " " + p.client.RemoteAddr().String() + "\r\n")
	if err != nil {
		p.t.Logf("hop proxy: %v", err)
		return
	}
	go p.readClient()
	var (
		blob    []byte // the sleeping session's, nil while awake
		idle    bool   // the sleeper is in IDLE
		pending []byte // client bytes for the next hop
		changed bool   // mail changed since the current hop opened
	)
	for {
		var ev hopEvent
		select {
		case ev = <-p.events:
		case <-p.changes:
			changed = true
			ev.kind = -1
		}
		switch ev.kind {
		case hopClientGone:
			if hop != nil {
				hop.Close()
			}
			return
		case hopClosed:
			if blob == nil {
				return // the session ended at the backend
			}
		case hopClientData:
			if hop == nil {
				pending = append(pending, ev.data...)
				break
			}
			sent = append(sent, ev.data...)
			hop.Write(ev.data) // a failure shows as the hop's end
		case hopHandoff:
			hop.Close()
			hop = nil
			blob = ev.data
			var st hibernate.State
			if err := st.UnmarshalBinary(blob); err != nil {
				p.t.Errorf("hop proxy: handed a bad blob: %v", err)
				return
			}
			idle = st.IdleTag != ""
			// What the backend never read goes with the resume.
			if ev.read > int64(len(sent)) {
				p.t.Errorf("hop proxy: backend read %d bytes of %d sent", ev.read, len(sent))
				return
			}
			pending = append(sent[ev.read:len(sent):len(sent)], pending...)
		}
		if blob == nil || !(len(pending) > 0 || idle && changed) {
			continue
		}
		// Resume: the blob, then the client's bytes at once.
		cmd := fmt.Sprintf("XR1 XRESUME %s %s {%d+}\r\n%s\r\n", hopSecret, p.client.RemoteAddr(), len(blob), blob)
		if hop, sent, err = p.open(cmd + string(pending)); err != nil {
			p.t.Errorf("hop proxy: %v", err)
			return
		}
		blob, pending, changed = nil, nil, false
	}
}

// open dials the backend, writes first (XPROXY, or XRESUME and what goes
// with it) and starts the hop's reader; it returns the hop and what was
// written on it.
func (p *hopProxy) open(first string) (net.Conn, []byte, error) {
	hop, err := net.Dial("tcp", p.backend)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(hop)
	if g, err := imapresp.Read(br); err != nil || !strings.HasPrefix(g, "* OK") {
		hop.Close()
		return nil, nil, fmt.Errorf("backend greeting %q: %v", g, err)
	}
	if _, err := io.WriteString(hop, first); err != nil {
		hop.Close()
		return nil, nil, err
	}
	tag, _, _ := strings.Cut(first, " ")
	reply := make(chan error, 1)
	go p.readHop(br, tag, reply)
	if err := <-reply; err != nil {
		hop.Close()
		return nil, nil, err
	}
	return hop, []byte(first), nil
}

// readHop reads the backend's responses: the answer to the proxy's own
// command (tag) first, reported on reply (XPROXY's OK makes the proxy
// greet its client); then everything else goes to the client, but a
// handoff, which is the hop's last word.
func (p *hopProxy) readHop(br *bufio.Reader, tag string, reply chan error) {
	for {
		s, err := imapresp.Read(br)
		if err != nil {
			if reply != nil {
				reply <- fmt.Errorf("%s: %w", tag, err)
			}
			p.events <- hopEvent{kind: hopClosed}
			return
		}
		if reply != nil && strings.HasPrefix(s, tag+" ") {
			if !strings.HasPrefix(s, tag+" OK") {
				reply <- fmt.Errorf("backend refused %s: %s", tag, s)
				return
			}
			if tag == "XP1" {
				io.WriteString(p.client, "* OK test proxy ready\r\n")
			}
			reply <- nil
			reply = nil
			continue
		}
		if rest, ok := strings.CutPrefix(s, "* XSLEEP "); ok {
			p.events <- p.handoff(rest)
			return
		}
		io.WriteString(p.client, s+"\r\n")
	}
}

// handoff parses "<read> {n}\r\n<blob>", the rest of * XSLEEP.
func (p *hopProxy) handoff(rest string) hopEvent {
	head, blob, ok := strings.Cut(rest, "\r\n")
	num, lit, _ := strings.Cut(head, " ")
	read, err := strconv.ParseInt(num, 10, 64)
	if n, isLit := imapresp.LiteralSize(lit); !ok || err != nil || !isLit || n != int64(len(blob)) {
		p.t.Errorf("hop proxy: bad XSLEEP %q", rest)
		return hopEvent{kind: hopClosed}
	}
	return hopEvent{kind: hopHandoff, read: read, data: []byte(blob)}
}

// readClient sends the client's bytes to run as they come.
func (p *hopProxy) readClient() {
	for {
		buf := make([]byte, 4096)
		n, err := p.client.Read(buf)
		if n > 0 {
			p.events <- hopEvent{kind: hopClientData, data: buf[:n]}
		}
		if err != nil {
			p.events <- hopEvent{kind: hopClientGone}
			return
		}
	}
}
