// Package mda delivers test messages into a user's Maildir as a mail
// delivery agent does (write into tmp/, fsync, rename into new/), without
// telling the server: the benches time how soon a server notices.
package mda

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Maildir delivers into the Maildir that Fmt names for a user (one %s).
// It is not safe for concurrent use.
type Maildir struct {
	Fmt string
	// Tool names the sender in file names and Message-IDs ("bench-idle").
	Tool string
	seq  int64
}

// Message is the test message for delivery number seq.
func Message(tool, user string, seq int64, now time.Time) string {
	return fmt.Sprintf("Return-Path: <bench@localhost>\r\nFrom: bench@localhost\r\nTo: %s@localhost\r\n"+
		"Subject: wake %d\r\nDate: %s\r\nMessage-ID: <%d.%d@%s>\r\n\r\nhello %d\r\n",
		user, seq, now.Format(time.RFC1123Z), now.UnixNano(), seq, tool, seq)
}

// Deliver puts one message into user's new/ and returns the moment it
// became deliverable: just before the rename. Latency is measured from
// there.
func (d *Maildir) Deliver(user string) (time.Time, error) {
	d.seq++
	dir := fmt.Sprintf(d.Fmt, user)
	now := time.Now()
	// Maildir unique name: time, microseconds, pid, a counter.
	name := fmt.Sprintf("%d.M%dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), d.seq, d.Tool)
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return time.Time{}, fmt.Errorf("deliver to %s: %w", user, err)
	}
	_, err = f.WriteString(Message(d.Tool, user, d.seq, now))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return time.Time{}, fmt.Errorf("deliver to %s: %w", user, err)
	}
	t0 := time.Now()
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		return time.Time{}, fmt.Errorf("deliver to %s: %w", user, err)
	}
	return t0, nil
}
