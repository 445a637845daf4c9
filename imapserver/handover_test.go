//go:build unix

package imapserver_test

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// handedOver is what a Handover passed on: descriptors (the test's own
// duplicates) and blobs.
type handedOver struct {
	mu    sync.Mutex
	fds   []int
	blobs [][]byte
}

func (h *handedOver) send(fd int, blob []byte) error {
	d, err := syscall.Dup(fd)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fds = append(h.fds, d)
	h.blobs = append(h.blobs, append([]byte(nil), blob...))
	return nil
}

// secondServer starts another server on old's store, serving on a
// listener of its own: the process that takes over, in one test process.
func secondServer(t *testing.T, old *testserver.Server) (*imapserver.Server, string) {
	t.Helper()
	pw, err := auth.Open(old.PasswdFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := imapserver.New(imapserver.Config{
		Store: old.Store, Auth: pw, Metrics: imapserver.NewMetrics(),
		HibernateAfter: 50 * time.Millisecond, SpoolDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return srv, ln.Addr().String()
}

// A Handover passes each sleeper on and tells the rest BYE when its grace
// ends, counted by reason; the adopting server arms the sleepers and, with CatchUp, tells
// each what changed while it moved, although no event reached it then.
func TestHandoverAndAdopt(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = 50 * time.Millisecond
	}))
	asleep := old.Login(t, old.Alice)
	asleep.Cmd("s SELECT INBOX")
	asleep.Send("i IDLE")
	asleep.Expect("S: + idling")
	testserver.WaitMetric(t, old.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	quiet := old.Login(t, old.Bob) // logged in, nothing selected: moves as a quiet sleeper
	busy := old.Dial(t)            // not logged in: cannot move
	busy.Cmd("c CAPABILITY")

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := old.IMAP.Handover(ctx, got.send)
	if r.Moved != 2 || r.NotMoved[imapserver.NotMovedActive] != 1 || len(got.fds) != 2 {
		t.Fatalf("handover result %+v with %d passed on, want 2 moved, 1 active not moved", r, len(got.fds))
	}
	busy.Expect("S: * BYE Server shutting down")

	nu, addr := secondServer(t, old)
	// A change while the connection is on its way, before the new server
	// watches the mailbox: no event will tell it.
	c := imaptest.DialT(t, addr, imaptest.DialOptions{})
	c.Login(old.Alice.Name, old.Alice.Password)
	c.Append("INBOX", "Subject: on the way\r\n\r\nhi\r\n")

	for i, fd := range got.fds {
		if err := nu.Adopt(fd, got.blobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	nu.CatchUp(context.Background())
	asleep.Expect("S: * 1 EXISTS", "S: * 1 RECENT")
	asleep.Send("DONE")
	asleep.Expect("S: i OK IDLE terminated")
	asleep.Cmd("n NOOP")
	lines := asleep.Cmd("f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if len(lines) < 2 || lines[len(lines)-1] != "f OK FETCH completed" {
		t.Fatalf("FETCH after the move: %q", lines)
	}
	quiet.Run(`
C: q1 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 0)
S: q1 OK STATUS completed
`)
}

// An IDLE that is awake when the handover starts (its hibernation still
// an hour away) hibernates at once and moves; Handover returns as soon as
// no connection is left, well before its grace ends.
func TestHandoverMovesAwakeIdle(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Hour
	}))
	c := old.Login(t, old.Alice)
	c.Cmd("s SELECT INBOX")
	c.Send("i IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(t, old.Metrics, "dormouse_imap_connections,state=idling", 1)

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	if r := old.IMAP.Handover(ctx, got.send); r.Moved != 1 || len(r.NotMoved) != 0 {
		t.Fatalf("handover result %+v, want the IDLE moved", r)
	}
	if ctx.Err() != nil {
		t.Fatal("Handover waited for its grace to end")
	}
	nu, _ := secondServer(t, old)
	if err := nu.Adopt(got.fds[0], got.blobs[0]); err != nil {
		t.Fatal(err)
	}
	old.Deliver(t, "alice", "Subject: moved\r\n\r\nhi\r\n")
	c.Expect("S: * 1 EXISTS", "S: * 1 RECENT")
	c.Send("DONE")
	c.Expect("S: i OK IDLE terminated")
}

// Adopt checks a blob from another process as hostile input: the client
// of a refused one hears a BYE and nothing is armed.
func TestAdoptRefusesBadState(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Hour
	}))
	for _, tc := range []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{99, 1, 2, 3}},
		{"truncated", []byte{1, 5, 'a'}},
		{"too long", make([]byte, 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			f, err := sc.(*net.TCPConn).File()
			sc.Close()
			if err != nil {
				t.Fatal(err)
			}
			fd, err := syscall.Dup(int(f.Fd()))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.IMAP.Adopt(fd, tc.blob); err == nil {
				t.Fatal("adopted")
			}
			cc.SetReadDeadline(time.Now().Add(testserver.Patience))
			buf := make([]byte, 100)
			n, _ := cc.Read(buf)
			if got := string(buf[:n]); got != "* BYE Server restarting, please reconnect\r\n" {
				t.Errorf("client heard %q, want the BYE", got)
			}
			if n, err := cc.Read(buf); err == nil {
				t.Errorf("connection still open: read %q", buf[:n])
			}
		})
	}
	if got := testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"]; got != 0 {
		t.Errorf("%v hibernated, want 0", got)
	}
}

// A session that waits for a command on a selected mailbox moves too, as
// a sleeper between commands: its next command runs in the new server and
// first tells what changed meanwhile.
func TestHandoverMovesQuietSession(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Hour
	}))
	c := old.Login(t, old.Alice)
	c.Cmd("s SELECT INBOX")

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	if r := old.IMAP.Handover(ctx, got.send); r.Moved != 1 || len(r.NotMoved) != 0 {
		t.Fatalf("handover result %+v, want the quiet session moved", r)
	}
	if ctx.Err() != nil {
		t.Fatal("Handover waited for its grace to end")
	}
	nu, addr := secondServer(t, old)
	if err := nu.Adopt(got.fds[0], got.blobs[0]); err != nil {
		t.Fatal(err)
	}
	other := imaptest.DialT(t, addr, imaptest.DialOptions{})
	other.Login(old.Alice.Name, old.Alice.Password)
	other.Append("INBOX", "Subject: moved\r\n\r\nhi\r\n")
	c.Run(`
C: n NOOP
S: * 1 EXISTS
S: * 1 RECENT
S: n OK NOOP completed
C: f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: moved\r\n\r\n)
S: f OK FETCH completed
`)
}

// A session in a command when the handover starts finishes the command,
// and moves once it waits for the next.
func TestHandoverLetsCommandFinish(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Hour
	}))
	c := old.Login(t, old.Alice)
	c.Append("INBOX", "Subject: one\r\n\r\nhi\r\n")
	c.Cmd("s SELECT INBOX")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	imapserver.SetStepHook(old.IMAP, func(net.Conn) {
		once.Do(func() {
			close(entered)
			<-release
		})
	})
	c.Send("f FETCH 1:* (FLAGS)")
	<-entered

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	result := make(chan imapserver.HandoverResult, 1)
	go func() { result <- old.IMAP.Handover(ctx, got.send) }()
	// The handover has begun once the listener is closed.
	testserver.WaitFor(t, "the old listener closed", func() bool {
		nc, err := net.Dial("tcp", old.Addr)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	close(release)
	c.Expect("S~ \\* 1 FETCH \\(FLAGS \\(.*\\)\\)", "S: f OK FETCH completed")
	if r := <-result; r.Moved != 1 || len(r.NotMoved) != 0 {
		t.Fatalf("handover result %+v, want the session moved after its command", r)
	}
	if ctx.Err() != nil {
		t.Fatal("Handover waited for its grace to end")
	}
	nu, _ := secondServer(t, old)
	if err := nu.Adopt(got.fds[0], got.blobs[0]); err != nil {
		t.Fatal(err)
	}
	c.Run(`
C: n NOOP
S: n OK NOOP completed
`)
}

// Compressed connections move in a handover with their inflate window in
// the blob: one asleep in IDLE and one quiet between commands go on in
// the new process, whose fresh compressor and window-primed inflater
// carry on both streams (the command repeated after the move is
// compressed against the one before it).
func TestHandoverMovesCompressed(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = 50 * time.Millisecond
	}))
	old.Deliver(t, "alice", "Subject: before\r\n\r\nhi\r\n")
	const fetch = "f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
	const fetched = `S: * 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: before\r\n\r\n)`
	asleep := transportCompress.login(t, old, old.Alice)
	asleep.Cmd("s SELECT INBOX")
	asleep.Send("i IDLE")
	asleep.Expect("S: + idling")
	testserver.WaitMetric(t, old.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	quiet := transportCompress.login(t, old, old.Alice)
	quiet.Cmd("s SELECT INBOX")
	quiet.Run("C: " + fetch + "\n" + fetched + "\nS: f OK FETCH completed\n")

	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	if r := old.IMAP.Handover(ctx, got.send); r.Moved != 2 || len(r.NotMoved) != 0 {
		t.Fatalf("handover result %+v, want both compressed sessions moved", r)
	}
	nu, _ := secondServer(t, old)
	for i, fd := range got.fds {
		if err := nu.Adopt(fd, got.blobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	old.Deliver(t, "alice", "Subject: moved\r\n\r\nhi\r\n")
	asleep.Expect("S: * 2 EXISTS", "S: * 2 RECENT")
	asleep.Send("DONE")
	asleep.Expect("S: i OK IDLE terminated")
	asleep.Run("C: " + fetch + "\n" + fetched + "\nS: f OK FETCH completed\n")
	if lines := quiet.Cmd("n NOOP"); lines[0] != "* 2 EXISTS" || lines[len(lines)-1] != "n OK NOOP completed" {
		t.Fatalf("NOOP after the move: %q", lines)
	}
	quiet.Run("C: " + fetch + "\n" + fetched + "\nS: f OK FETCH completed\n")
}

// A sleeper's live search context (RFC 5267 4.3) moves with it in an
// upgrade: the new process tells it ADDTO for a delivery made there, from
// the criteria and result in the blob.
func TestHandoverMovesSearchContext(t *testing.T) {
	old := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
	}))
	fill(t, old, "INBOX", 2)
	c := old.Login(t, old.Alice)
	c.Run(`
C: s SELECT INBOX
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * 2 EXISTS
S: * 2 RECENT
`)
	c.ReadUntilTagged("s")
	c.Run(`
C: u UID SEARCH RETURN (UPDATE) UNSEEN
S: * ESEARCH (TAG "u") UID ALL 1:2
S: u OK UID SEARCH completed
C: i IDLE
S: + idling
`)
	testserver.WaitMetric(t, old.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	var got handedOver
	ctx, cancel := context.WithTimeout(context.Background(), testserver.Patience)
	defer cancel()
	if r := old.IMAP.Handover(ctx, got.send); r.Moved != 1 {
		t.Fatalf("handover result %+v, want the sleeper moved", r)
	}
	nu, _ := secondServer(t, old)
	if err := nu.Adopt(got.fds[0], got.blobs[0]); err != nil {
		t.Fatal(err)
	}
	old.Deliver(t, "alice", testMessage(3))
	c.Run(`
S: * 3 EXISTS
S: * 3 RECENT
S: * ESEARCH (TAG "u") UID ADDTO (0 3)
C: DONE
S: i OK IDLE terminated
C: x CANCELUPDATE "u"
S: x OK CANCELUPDATE completed
`)
}
