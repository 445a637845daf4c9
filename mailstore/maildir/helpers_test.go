package maildir

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// testStore opens a store on a temporary folder, closed with the test.
func testStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The tests of the watcher count watches as holds end:
	// TestWatchLinger checks the linger on its own.
	s.w.mu.Lock()
	s.w.linger = 0
	s.w.mu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s, root
}

func testUser(t testing.TB, s *Store, name string) mailstore.User {
	t.Helper()
	u, err := s.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func testMailbox(t testing.TB, u mailstore.User, name string) mailstore.Mailbox {
	t.Helper()
	m, err := u.Mailbox(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func msg(subject string) string {
	return "From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody " + subject + "\r\n"
}

func mustAppend(t testing.TB, m mailstore.Mailbox, body string, flags ...string) uint32 {
	t.Helper()
	uid, err := m.Append(context.Background(), strings.NewReader(body), flags, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func readAll(t testing.TB, m mailstore.Mailbox, uid uint32) string {
	t.Helper()
	c, err := m.Open(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, c); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != c.Size() {
		t.Fatalf("content of %d: read %d bytes, Size says %d", uid, b.Len(), c.Size())
	}
	return b.String()
}

// messageCount counts the messages of a fresh view of m.
func messageCount(t testing.TB, m mailstore.Mailbox) int {
	t.Helper()
	v, err := m.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v.Messages.Len()
}

func uidsOf(msgs []mailstore.Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

// eventWaiter collects events from Watch without blocking the publisher.
type eventWaiter struct {
	ch chan heard
}

// heard is an event a test heard: a committed one, or an early
// announcement (Early set; watchEventsAll).
type heard struct {
	mailstore.Event
	Early *mailstore.EarlyAdd
}

func watchEvents(t testing.TB, s *Store, user, mailbox string) *eventWaiter {
	return watchEventsAll(t, s, user, mailbox, false)
}

// watchEventsAll is watchEvents that, with early, also hears the store's
// early announcements (WatchEarly) of the mailbox, in one stream.
func watchEventsAll(t testing.TB, s *Store, user, mailbox string, early bool) *eventWaiter {
	w := &eventWaiter{ch: make(chan heard, 1024)}
	cancel := s.Watch(user, mailbox, func(ev mailstore.Event) {
		select {
		case w.ch <- heard{Event: ev}:
		default:
		}
	})
	t.Cleanup(cancel)
	if early {
		cancel := s.WatchEarly(func(a mailstore.EarlyAdd) {
			if a.User != user || (mailbox != "" && a.Mailbox != mailbox) {
				return
			}
			select {
			case w.ch <- heard{Event: a.Event, Early: &a}:
			default:
			}
		})
		t.Cleanup(cancel)
	}
	return w
}

// wait returns the first event of kind within d, or fails.
func (w *eventWaiter) wait(t testing.TB, kind mailstore.EventKind, d time.Duration) heard {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-w.ch:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event of kind %d within %v", kind, d)
		}
	}
}

// drain drops pending events.
func (w *eventWaiter) drain() {
	for {
		select {
		case <-w.ch:
		default:
			return
		}
	}
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
