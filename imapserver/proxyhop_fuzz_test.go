package imapserver_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imapresp"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// hopBlobs makes real state blobs on srv (which hands off after hopQuiet): a
// session of alice's in each of the states a blob can hold.
func hopBlobs(t testing.TB, srv *testserver.Server) map[string][]byte {
	t.Helper()
	scripts := map[string][]string{
		"idle":      {"s SELECT INBOX", "IDLE"},
		"quiet":     {"s SELECT INBOX"},
		"auth":      {"n NOOP"},
		"condstore": {"e ENABLE CONDSTORE", "s EXAMINE INBOX", "IDLE"},
		"qresync":   {"e ENABLE IMAP4rev2 QRESYNC", "s SELECT INBOX", "f UID FETCH 1:* (FLAGS)"},
		"searchres": {"s SELECT INBOX", "r SEARCH RETURN (SAVE) ALL"},
		"context":   {"s SELECT INBOX", "r SEARCH RETURN (UPDATE COUNT) UNSEEN"},
		"notify":    {"s SELECT INBOX", "n NOTIFY SET (selected (MessageNew MessageExpunge))"},
	}
	blobs := map[string][]byte{}
	for name, cmds := range scripts {
		c := xproxy(t, srv, "alice", "192.0.2.7:4711")
		for _, cmd := range cmds {
			if cmd == "IDLE" {
				c.Send("i IDLE")
				c.Expect("S: + idling")
				continue
			}
			tag, _, _ := strings.Cut(cmd, " ")
			c.Send(cmd)
			c.ReadUntilTagged(tag)
		}
		_, blobs[name] = readXSleep(t, c)
	}
	return blobs
}

// FuzzXResume sends any bytes as XRESUME's state blob, through a real
// socket, to a server that accepts a proxy: each is resumed or refused
// with a tagged answer after which the connection is usable (a resumed
// session logs out of it with UNAUTHENTICATE), or it ends after a refused
// oversized literal or a handoff; nothing hangs or panics. The seeds are
// real blobs of this server's sessions in every state (resumed), the
// committed corpus (blobs of another store: refused for their
// UIDVALIDITY, or resumed when they select nothing), and truncations.
// One connection serves input after input: a connection per input
// would use up the machine's ephemeral ports in TIME-WAIT within a
// minute of fuzzing.
func FuzzXResume(f *testing.F) {
	// The fuzzing function may not log through f: the server logs nowhere.
	srv := testserver.Start(f, testserver.WithLogger(slog.New(slog.DiscardHandler)), testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = hopQuiet // not 1 ms: hopBlobs' next command would race the handoff
		c.ProxySecret = hopSecret
	}))
	fill(f, srv, "INBOX", 3)
	for _, b := range hopBlobs(f, srv) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	var h fuzzHop
	defer h.close()
	f.Fuzz(func(t *testing.T, blob []byte) { h.resume(t, srv.Addr, blob) })
}

// fuzzHop is the proxy's connection of FuzzXResume, dialled again when
// the server ended the last one.
type fuzzHop struct {
	nc net.Conn
	br *bufio.Reader
}

func (h *fuzzHop) close() {
	if h.nc != nil {
		h.nc.Close()
		h.nc = nil
	}
}

// resume plays one input and checks what comes back.
func (h *fuzzHop) resume(t *testing.T, addr string, blob []byte) {
	if h.nc == nil {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		h.nc, h.br = nc, bufio.NewReader(nc)
		if g, err := imapresp.Read(h.br); err != nil || !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q, %v", g, err)
		}
	}
	h.nc.SetDeadline(time.Now().Add(imaptest.DefaultTimeout))
	// In one write, so that a resumed session has its next command at
	// once (it would hand off, quiet, and the connection end).
	msg := "X2 XRESUME " + hopSecret + " 192.0.2.7 {" + strconv.Itoa(len(blob)) + "+}\r\n" + string(blob) + "\r\nDONE\r\nz1 UNAUTHENTICATE\r\n"
	go io.WriteString(h.nc, msg) // the server may close before reading it all
	var answers []string
	for {
		s, err := imapresp.Read(h.br)
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			h.close()
			break
		}
		if err != nil {
			h.close()
			t.Fatalf("after %q: %v", answers, err)
		}
		answers = append(answers, s)
		if strings.HasPrefix(s, "z1 ") {
			break
		}
	}
	if len(answers) == 0 {
		t.Fatal("no answer")
	}
	if strings.HasPrefix(answers[0], "* BYE ") && h.nc == nil {
		// The login timeout ended the idle connection: again, on a new
		// one.
		h.resume(t, addr, blob)
		return
	}
	switch first := answers[0]; {
	case first == "X2 OK resumed", strings.HasPrefix(first, "X2 NO "):
	case strings.HasPrefix(first, "X2 BAD ") && strings.Contains(first, "[LIMIT]"):
		return // an oversized literal: the connection ends
	default:
		t.Fatalf("XRESUME answered %q", first)
	}
	// UNAUTHENTICATE's answer (OK after a resume, BAD after a refusal),
	// or a handoff that came first and ended the connection.
	last := answers[len(answers)-1]
	if !strings.HasPrefix(last, "z1 OK") && !strings.HasPrefix(last, "z1 BAD") && !strings.HasPrefix(last, "* XSLEEP ") {
		t.Fatalf("after XRESUME: %q", answers)
	}
}
