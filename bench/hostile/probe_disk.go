package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dormouse/dormouse/internal/imaptest"
	"golang.org/x/sys/unix"
)

// probeFullDisk (finding 6) runs the server on an 8 MiB tmpfs, fills it,
// and APPENDs 2 MB: above the 1 MiB spool threshold. Mounting needs root.
func probeFullDisk(ctx context.Context, cfg *reproConfig, r *row) error {
	if os.Geteuid() != 0 {
		r.Value = "skipped"
		r.Detail = "mounting a tmpfs needs root"
		return nil
	}
	data := filepath.Join(cfg.dir, "p6-fulldisk")
	os.RemoveAll(data)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=8m"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", data, err)
	}
	defer unix.Unmount(data, unix.MNT_DETACH)
	s, err := newServer(cfg.server, data, map[string]string{"alice": "alice-pw"})
	if err != nil {
		return err
	}
	if err := s.start(); err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	c, err := login(ctx, s.imap, "", "alice", "alice-pw", cfg.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if st, err := c.Append("INBOX", textMessage("before", "before", 100)); err != nil || !imaptest.IsOK(st) {
		return fmt.Errorf("APPEND before filling: %q %v", st, err)
	}
	if err := fillDisk(filepath.Join(data, "filler")); err != nil {
		return err
	}
	answer := func(size int) string {
		st, err := c.Append("INBOX", textMessage("full", "on a full disk", size))
		switch {
		case err == nil:
			return st
		case errors.Is(err, imaptest.ErrBye):
			return strings.TrimPrefix(err.Error(), imaptest.ErrBye.Error()+": ")
		default:
			return "connection closed (" + err.Error() + ")"
		}
	}
	big := answer(2_000_000)
	small := "not tried (connection gone)"
	if c2, err := login(ctx, s.imap, "", "alice", "alice-pw", cfg.timeout); err == nil {
		defer c2.Close()
		st, err := c2.Append("INBOX", textMessage("full-small", "on a full disk", 100))
		small = st
		if err != nil {
			small = err.Error()
		}
	}
	r.Value = shorten(big, 70)
	r.Detail = fmt.Sprintf("8 MiB tmpfs filled; 2 MB APPEND: %q; for comparison a 100-byte APPEND (new session): %q", big, small)
	r.Data = map[string]any{"answer_2mb": big, "answer_100b": small}
	if !s.running() {
		return errExited
	}
	return nil
}

// fillDisk writes path until the file system is full.
func fillDisk(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("fill disk: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := len(buf); n >= 1; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					return fmt.Errorf("fill disk: %w", err)
				}
				break
			}
		}
	}
	return nil
}

// probeLeftovers (finding 7) SIGKILLs the server twice with an APPEND of a
// big literal and an LMTP DATA in flight (once in mid-transfer, once just
// after the APPEND's last byte), restarts it, waits, and lists the files
// left in spool/ and the Maildir's tmp/ folders.
func probeLeftovers(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p7-leftovers")
	if err != nil {
		return err
	}
	defer func() {
		if s.running() {
			s.stop(10 * time.Second)
		}
	}()
	for round := range 2 {
		if err := killDuringTransfer(ctx, s, cfg.timeout, round == 1); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		if err := s.start(); err != nil {
			return err
		}
	}
	wait := 5 * time.Second
	sleepCtx(ctx, wait)
	files := leftovers(s)
	var total int64
	names := make([]string, 0, len(files))
	for _, f := range files {
		total += f.size
		names = append(names, fmt.Sprintf("%s (%s MiB)", f.path, mib(f.size)))
	}
	r.Value = fmt.Sprintf("%d files, %s MiB", len(files), mib(total))
	r.Detail = fmt.Sprintf("2 SIGKILLs during a 32 MiB APPEND and an 8 MiB LMTP DATA (mid-transfer; right after the APPEND's last byte), restart, %v later: %s",
		wait, strings.Join(names, ", "))
	if len(files) == 0 {
		r.Detail += "nothing left"
	}
	r.Data = map[string]any{"files": len(files), "bytes": total, "names": names}
	return nil
}

// killDuringTransfer starts a 32 MiB APPEND (logged in) and an 8 MiB LMTP
// delivery, and SIGKILLs the server once both are being spooled; with
// afterLast, the APPEND's literal is sent whole first and the kill comes
// right after its last byte.
func killDuringTransfer(ctx context.Context, s *server, timeout time.Duration, afterLast bool) error {
	c, err := login(ctx, s.imap, "", "alice", "alice-pw", timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	l, err := dialLMTP(ctx, s.lmtp, "", timeout)
	if err != nil {
		return err
	}
	defer l.close()
	const appendSize, lmtpSize = 32 << 20, 8 << 20
	var wg sync.WaitGroup
	appendSent := make(chan struct{})
	wg.Add(2)
	go func() { // the APPEND: everything, or half
		defer wg.Done()
		defer close(appendSent)
		if err := c.Send(fmt.Sprintf("%s APPEND INBOX {%d+}", c.NextTag(), appendSize)); err != nil {
			return
		}
		n := int64(appendSize)
		if !afterLast {
			n /= 2
		}
		io.CopyN(c.NetConn(), zeroReader{}, n)
		if afterLast {
			io.WriteString(c.NetConn(), "\r\n")
		}
	}()
	go func() { // the LMTP DATA: half
		defer wg.Done()
		if code, _, err := l.cmd("MAIL FROM:<bench@hostile.example>"); err != nil || code != 250 {
			return
		}
		if code, _, err := l.cmd("RCPT TO:<alice@example.org>"); err != nil || code != 250 {
			return
		}
		if code, _, err := l.cmd("DATA"); err != nil || code != 354 {
			return
		}
		io.WriteString(l.nc, "Subject: killed\r\n\r\n")
		io.CopyN(l.nc, zeroReader{}, lmtpSize/2)
	}()
	if afterLast {
		<-appendSent
	} else {
		// Both are being spooled once spool/ holds two files.
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if ents, _ := os.ReadDir(s.spool()); len(ents) >= 2 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	c.Close()
	l.close()
	wg.Wait()
	return nil
}

// leftFile is a file left behind.
type leftFile struct {
	path string // relative to the data folder
	size int64
}

// leftovers lists the files in spool/ and in every tmp/ below the users'
// Maildirs.
func leftovers(s *server) []leftFile {
	var out []leftFile
	add := func(path string, d fs.DirEntry) {
		if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(s.data, path)
			out = append(out, leftFile{path: rel, size: fi.Size()})
		}
	}
	if ents, err := os.ReadDir(s.spool()); err == nil {
		for _, e := range ents {
			add(filepath.Join(s.spool(), e.Name()), e)
		}
	}
	filepath.WalkDir(filepath.Join(s.data, "users"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if filepath.Base(filepath.Dir(path)) == "tmp" {
			add(path, d)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}
