package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// maildirDeliverer writes a message into tmp/, fsyncs it and renames it
// into new/, as an MDA does (bench/idle's deliverer); the server is not
// told.
type maildirDeliverer struct {
	fmt string
	seq int64
}

// deliver returns the moment the message became deliverable: just before
// the rename.
func (d *maildirDeliverer) deliver(user string) (time.Time, error) {
	d.seq++
	dir := fmt.Sprintf(d.fmt, user)
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d.bench-fleet", now.Unix(), now.Nanosecond()/1000, os.Getpid(), d.seq)
	tmp := filepath.Join(dir, "tmp", name)
	body := fmt.Sprintf("From: fleet@localhost\r\nTo: %s@localhost\r\nSubject: fleet %d\r\nDate: %s\r\nMessage-ID: <%d.%d@bench.fleet>\r\n\r\nhello %d\r\n",
		user, d.seq, now.Format(time.RFC1123Z), now.UnixNano(), d.seq, d.seq)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return time.Time{}, fmt.Errorf("deliver to %s: %w", user, err)
	}
	_, err = f.WriteString(body)
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
