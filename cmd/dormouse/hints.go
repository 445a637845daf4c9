package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/mailstore/maildir"
	"github.com/dormouse/dormouse/notice"
)

// hintListener reads the hints local writers send on DATA/notice.sock
// (notice.Hint: `dormouse deliver`, `dormouse notice`, a script) and hands
// each to the store as a folder watch's event for that mailbox
// (maildir.Store.Hint). Where inotify is off they are how the server
// learns of other programs' changes as they happen; where it is on they
// reach mailboxes nobody here watches (users asleep at a proxy).
type hintListener struct {
	conn  *net.UnixConn
	path  string
	store *maildir.Store
	log   *slog.Logger
	count *prometheus.CounterVec
	wg    sync.WaitGroup
	once  sync.Once
}

// hintMetrics counts the hints read, by result.
func hintMetrics() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dormouse", Subsystem: "notice", Name: "hints_total",
		Help: "Datagrams read on DATA/notice.sock: applied (handed to the store) or refused (malformed, or naming no user or mailbox of the store).",
	}, []string{"result"})
	c.WithLabelValues("applied")
	c.WithLabelValues("refused")
	return c
}

// errHintPathTooLong says the data folder's path is too long for the hint
// socket's name: fatal only when inotify is off and hints are the one way
// the store learns of other writers.
var errHintPathTooLong = errors.New("path longer than a UNIX socket allows (107 bytes): local writers' change hints need a shorter data folder path")

// listenHints opens the hint socket at path (mode 0600) and reads it
// until close.
func listenHints(path string, store *maildir.Store, count *prometheus.CounterVec, log *slog.Logger) (*hintListener, error) {
	if len(path) >= 108 { // sun_path
		return nil, fmt.Errorf("hint socket %s: %w", path, errHintPathTooLong)
	}
	// The admin socket, opened before, has already proved that no other
	// server runs here: a socket file left at path is a dead one's.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hint socket: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("hint socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hint socket: %w", err)
	}
	h := &hintListener{conn: conn, path: path, store: store, log: log, count: count}
	h.wg.Add(1)
	go h.read()
	return h, nil
}

func (h *hintListener) read() {
	defer h.wg.Done()
	// One byte more than a hint may have: a datagram that fills it is
	// too long (the kernel cuts what does not fit).
	buf := make([]byte, notice.MaxHint+1)
	for {
		n, err := h.conn.Read(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				h.log.Error("hint socket", "err", err)
			}
			return
		}
		var hint notice.Hint
		err = hint.UnmarshalText(buf[:n])
		if err == nil {
			err = h.store.Hint(hint.User, hint.Mailbox, hint.Folder, hint.Name)
		}
		if err != nil {
			h.count.WithLabelValues("refused").Inc()
			h.log.Debug("hint refused", "err", err)
			continue
		}
		h.count.WithLabelValues("applied").Inc()
	}
}

// close stops reading and removes the socket, once (after an upgrade the
// path is the new process's); a nil listener is fine.
func (h *hintListener) close() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		// A datagram socket's file stays after its Close: removed first,
		// while it is still this process's.
		os.Remove(h.path)
		h.conn.Close()
		h.wg.Wait()
	})
}
