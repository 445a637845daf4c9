package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// firstOpenMessages is the size of BenchmarkFirstOpen's folder.
const firstOpenMessages = 100_000

// firstOpenFixture is a Maildir of firstOpenMessages files written
// straight into cur/ (no index), shared by the runs of one process.
type firstOpenFixture struct {
	once sync.Once
	root string
	err  error
}

var firstOpenDir firstOpenFixture // test-only

// writeFreshMaildir writes n small messages into user's INBOX cur/ under
// root, named as a delivery agent names them (with S= and W=, a fifth
// \Seen), as bench/compare's large fixture does.
func writeFreshMaildir(root, user string, n int) error {
	md := filepath.Join(root, "users", user, "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			return err
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		body := fmt.Sprintf("From: p%d@example.org\nSubject: message %d\n\nbody %d\n", i%400, i, i)
		info := ""
		if i%5 == 0 {
			info = "S"
		}
		name := fmt.Sprintf("%d.M%dP1Q%d.bench,S=%d,W=%d:2,%s", base.Unix()+int64(i), i, i, len(body), len(body)+strings.Count(body, "\n"), info)
		p := filepath.Join(md, "cur", name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return err
		}
		t := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, t, t); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFirstOpen opens INBOX of a 100,000-file Maildir that has no
// index: the first SELECT of a large folder, without the IMAP layer. Each
// run removes the index and opens the store anew; only the opening of the
// mailbox (list, Lstat, index, commit) and its first view are timed, as
// in a SELECT.
func BenchmarkFirstOpen(b *testing.B) {
	f := &firstOpenDir
	f.once.Do(func() {
		f.root, f.err = os.MkdirTemp("", "dormouse-firstopen-")
		if f.err == nil {
			f.err = writeFreshMaildir(f.root, "big", firstOpenMessages)
		}
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	var cpu time.Duration // the process's CPU time in the timed parts
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, n := range []string{indexFile, uidValidityFile} {
			if err := os.Remove(filepath.Join(f.root, "users", "big", n)); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
		}
		s, err := Open(f.root, Options{Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		u, err := s.User(ctx, "big")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0 := processCPU(b)
		m, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		v, err := m.Snapshot(ctx)
		if err != nil || v.Messages.Len() != firstOpenMessages {
			b.Fatal(err, v.Messages.Len())
		}
		b.StopTimer()
		cpu += processCPU(b) - cpu0
		m.Close()
		u.Close()
		s.Close()
		if fi, err := os.Stat(filepath.Join(f.root, "users", "big", indexFile)); err == nil {
			b.ReportMetric(float64(fi.Size()), "index-bytes")
		}
		b.StartTimer()
	}
	// On a shared machine the time taken says little; the CPU spent
	// (every goroutine's, the garbage collector's and the kernel's for
	// this process) is what a change saves.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
