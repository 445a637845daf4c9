package lmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// users is a Directory of the names set true, compared as the
// passwd-file compares them.
type users map[string]bool

func (u users) LookupUser(name string) (string, bool, error) {
	for n, ok := range u {
		if ok && auth.CanonicalName(n) == auth.CanonicalName(name) {
			return n, true, nil
		}
	}
	return "", false, nil
}

// failingStore fails to open the users in fail with err, like a full disk.
type failingStore struct {
	mailstore.Store
	fail map[string]error
}

func (s failingStore) User(ctx context.Context, name string) (mailstore.User, error) {
	if err := s.fail[name]; err != nil {
		return nil, fmt.Errorf("open user: %w", err)
	}
	return s.Store.User(ctx, name)
}

type fixture struct {
	addr  string
	store *maildir.Store
}

func start(t *testing.T, dir users, fail map[string]error, opts ...func(*Config)) fixture {
	t.Helper()
	root := t.TempDir()
	st, err := maildir.Open(root, maildir.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var store mailstore.Store = st
	if fail != nil {
		store = failingStore{st, fail}
	}
	cfg := Config{Store: store, Users: dir, Logger: slog.New(slog.DiscardHandler), Domain: "test.local", SpoolDir: t.TempDir(), Metrics: NewMetrics()}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return fixture{addr: ln.Addr().String(), store: st}
}

// inbox returns the messages in a user's INBOX.
func (f fixture) inbox(t *testing.T, user string) []string {
	t.Helper()
	return f.messages(t, user, "INBOX")
}

// messages returns the messages in a user's mailbox.
func (f fixture) messages(t *testing.T, user, mailbox string) []string {
	t.Helper()
	ctx := context.Background()
	u, err := f.store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Mailbox(ctx, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	v, err := mb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range v.Messages.Messages() {
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.NewSectionReader(c, 0, m.Size))
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

const msg = "From: sender@example.org\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nHi there.\r\n"

// send runs one LMTP transaction and returns the RCPT errors and the
// per-recipient DATA replies (code by address).
func send(t *testing.T, addr string, rcpts []string, body string) (rcptErr map[string]int, data map[string]int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	rcptErr = map[string]int{}
	accepted := 0
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				t.Fatalf("RCPT %s: %v", r, err)
			}
			rcptErr[r] = se.Code
			continue
		}
		accepted++
	}
	data = map[string]int{}
	if accepted == 0 {
		return rcptErr, data
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if err != nil && !errors.As(err, &lerr) {
		t.Fatalf("DATA: %v", err)
	}
	for r, e := range lerr {
		data[r] = e.Code
	}
	for r, dr := range resp {
		if dr != nil {
			data[r] = 250
		}
	}
	if err == nil {
		for _, r := range rcpts {
			if _, rej := rcptErr[r]; !rej {
				data[r] = 250
			}
		}
	}
	return rcptErr, data
}

func TestRecipients(t *testing.T) {
	dir := users{"alice": true, "bob@example.org": true, "bob": true}
	tests := []struct {
		name     string
		rcpts    []string
		rejected map[string]int
		inboxes  map[string]int // messages per user afterwards
	}{
		{"local part", []string{"alice@example.org"}, map[string]int{}, map[string]int{"alice": 1}},
		{"any domain", []string{"alice@other.test"}, map[string]int{}, map[string]int{"alice": 1}},
		{"whole address wins", []string{"bob@example.org"}, map[string]int{}, map[string]int{"bob@example.org": 1, "bob": 0}},
		{"other domain falls back", []string{"bob@elsewhere.test"}, map[string]int{}, map[string]int{"bob@example.org": 0, "bob": 1}},
		{"unknown", []string{"carol@example.org", "alice@example.org"}, map[string]int{"carol@example.org": 550}, map[string]int{"alice": 1}},
		{"two users", []string{"alice@example.org", "bob@elsewhere.test"}, map[string]int{}, map[string]int{"alice": 1, "bob": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, dir, nil)
			rej, data := send(t, f.addr, tt.rcpts, msg)
			if fmt.Sprint(rej) != fmt.Sprint(tt.rejected) {
				t.Errorf("RCPT rejections = %v, want %v", rej, tt.rejected)
			}
			for _, r := range tt.rcpts {
				if _, ok := tt.rejected[r]; ok {
					continue
				}
				if data[r] != 250 {
					t.Errorf("DATA reply for %s = %d, want 250", r, data[r])
				}
			}
			for u, n := range tt.inboxes {
				got := f.inbox(t, u)
				if len(got) != n {
					t.Errorf("%s has %d messages, want %d", u, len(got), n)
				}
				for _, m := range got {
					if !strings.HasPrefix(m, "Return-Path: <sender@example.org>\r\n") || !strings.HasSuffix(m, msg) {
						t.Errorf("%s: stored message %q", u, m)
					}
				}
			}
		})
	}
}

// One reply per recipient after DATA (RFC 2033 4.2): a store failure for
// one user is a 4xx for that user only.
func TestPerRecipientStatus(t *testing.T) {
	f := start(t, users{"alice": true, "bob": true, "carol": true}, map[string]error{
		"bob":   mailstore.ErrNoSpace,
		"carol": errors.New("disk on fire"),
	})
	_, data := send(t, f.addr, []string{"alice@x.test", "bob@x.test", "carol@x.test"}, msg)
	want := map[string]int{"alice@x.test": 250, "bob@x.test": 452, "carol@x.test": 451}
	if fmt.Sprint(data) != fmt.Sprint(want) {
		t.Errorf("DATA replies = %v, want %v", data, want)
	}
	if n := len(f.inbox(t, "alice")); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
}

func TestDotStuffingAndSize(t *testing.T) {
	f := start(t, users{"alice": true}, nil)
	body := "Subject: dots\r\n\r\n.leading dot\r\n..two\r\n"
	if _, data := send(t, f.addr, []string{"alice@x"}, body); data["alice@x"] != 250 {
		t.Fatalf("DATA = %v", data)
	}
	got := f.inbox(t, "alice")
	if len(got) != 1 || !strings.HasSuffix(got[0], body) {
		t.Errorf("stored %q, want it to end with %q", got, body)
	}
}

// swaks is the LMTP client the CI uses (Debian package swaks). The test
// skips without it unless REQUIRE_INTEROP=1.
func TestSwaks(t *testing.T) {
	path, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("REQUIRE_INTEROP") == "1" {
			t.Fatal("swaks not installed (apt-get install -y swaks) and REQUIRE_INTEROP=1")
		}
		t.Skip("swaks not installed")
	}
	f := start(t, users{"alice": true}, nil)
	host, port, _ := net.SplitHostPort(f.addr)
	tests := []struct {
		to       string
		wantExit bool // swaks exits non-zero when a recipient is refused
		stored   int
	}{
		{"alice@example.org", false, 1},
		{"nobody@example.org", true, 1},
	}
	for _, tt := range tests {
		cmd := exec.Command(path, "--server", host, "--port", port, "--protocol", "LMTP",
			"--from", "sender@example.org", "--to", tt.to, "--header", "Subject: swaks test", "--body", "hello from swaks")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if (err != nil) != tt.wantExit {
			t.Errorf("swaks --to %s: err %v, want failure %v\n%s", tt.to, err, tt.wantExit, out.String())
		}
		if tt.wantExit && !strings.Contains(out.String(), "550") {
			t.Errorf("swaks --to %s: no 550 in transcript\n%s", tt.to, out.String())
		}
		got := f.inbox(t, "alice")
		if len(got) != tt.stored {
			t.Fatalf("after swaks --to %s: alice has %d messages, want %d", tt.to, len(got), tt.stored)
		}
		if !strings.Contains(got[0], "Subject: swaks test") {
			t.Errorf("stored %q", got[0])
		}
	}
}

func TestTooBig(t *testing.T) {
	f := start(t, users{"alice": true}, nil, func(c *Config) { c.MaxMessageBytes = 1000 })
	_, data := send(t, f.addr, []string{"alice@x"}, "Subject: big\r\n\r\n"+strings.Repeat("0123456789\r\n", 200))
	if data["alice@x"] != 552 {
		t.Errorf("DATA reply for a message over the limit = %v, want 552", data)
	}
	if n := len(f.inbox(t, "alice")); n != 0 {
		t.Errorf("alice has %d messages, want 0", n)
	}
	// The connection is still usable for the next message.
	if _, data := send(t, f.addr, []string{"alice@x"}, msg); data["alice@x"] != 250 {
		t.Errorf("next message: %v", data)
	}
}

func TestLongLines(t *testing.T) {
	f := start(t, users{"alice": true}, nil)
	long := "Subject: long\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n"
	if _, data := send(t, f.addr, []string{"alice@x"}, long); data["alice@x"] != 250 {
		t.Errorf("5000-byte line: %v, want 250", data)
	}
	if got := f.inbox(t, "alice"); len(got) != 1 || !strings.HasSuffix(got[0], long) {
		t.Errorf("stored %d messages", len(got))
	}
}

// countingStore counts the users and mailboxes its store has open.
type countingStore struct {
	mailstore.Store
	open *atomic.Int64
}

func (s countingStore) User(ctx context.Context, name string) (mailstore.User, error) {
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return nil, err
	}
	s.open.Add(1)
	return &countedUser{User: u, closeCount: closeCount{open: s.open}}, nil
}

// closeCount takes one off open at the first Close of what embeds it.
type closeCount struct {
	open *atomic.Int64
	once sync.Once
}

func (c *closeCount) closed() { c.once.Do(func() { c.open.Add(-1) }) }

type countedUser struct {
	mailstore.User
	closeCount
}

func (u *countedUser) Close() error {
	u.closed()
	return u.User.Close()
}

func (u *countedUser) Mailbox(ctx context.Context, name string) (mailstore.Mailbox, error) {
	mb, err := u.User.Mailbox(ctx, name)
	if err != nil {
		return nil, err
	}
	u.open.Add(1)
	return &countedMailbox{Mailbox: mb, closeCount: closeCount{open: u.open}}, nil
}

type countedMailbox struct {
	mailstore.Mailbox
	closeCount
}

func (m *countedMailbox) Close() error {
	m.closed()
	return m.Mailbox.Close()
}

// TestOpenAhead: the INBOXes of the first openAhead recipients are open
// once RCPT is answered (the user's handle and the mailbox's), and every
// handle is closed when the transaction ends: after DATA, on RSET, and
// when the MTA goes away in the middle.
func TestOpenAhead(t *testing.T) {
	var open atomic.Int64
	dir := users{}
	var rcpts []string
	for i := range openAhead + 2 {
		dir[fmt.Sprintf("u%d", i)] = true
		rcpts = append(rcpts, fmt.Sprintf("u%d@x.test", i))
	}
	f := start(t, dir, nil, func(c *Config) { c.Store = countingStore{c.Store, &open} })
	waitOpen := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); open.Load() != want; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d handles open, want %d", open.Load(), want)
			}
		}
	}
	dial := func() *smtp.Client {
		t.Helper()
		conn, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		if err := c.Hello("mta.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("sender@example.org", nil); err != nil {
			t.Fatal(err)
		}
		return c
	}

	c := dial()
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := open.Load(); n != 2*openAhead {
		t.Fatalf("%d handles open after %d RCPTs, want %d", n, len(rcpts), 2*openAhead)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	waitOpen(0)
	for _, r := range rcpts {
		if n := len(f.inbox(t, strings.TrimSuffix(r, "@x.test"))); n != 1 {
			t.Fatalf("%s has %d messages, want 1", r, n)
		}
	}

	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpts[0], nil); err != nil {
		t.Fatal(err)
	}
	if n := open.Load(); n != 2 {
		t.Fatalf("%d handles open after one RCPT, want 2", n)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	waitOpen(0)
	c.Close()

	c = dial()
	if err := c.Rcpt(rcpts[1], nil); err != nil {
		t.Fatal(err)
	}
	c.Close() // the MTA hangs up after RCPT
	waitOpen(0)
}
