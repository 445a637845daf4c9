package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// preAuthLimit is the server's default limit of unauthenticated
// connections per address (limits.max_preauth_per_addr).
const preAuthLimit = 256

// probeDescriptors (finding 1) opens cfg.flood silent TCP connections to
// the IMAPS port from one address and counts the server's descriptors
// while they stay open: 3 s after the flood, and 5 s after the login
// timeout, when every admitted connection must have been closed; then
// once more after the client has closed its side.
func probeDescriptors(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p1-descriptors")
	if err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	base := s.fds()
	conns, failed := silentFlood(ctx, s.imaps, "", cfg.flood, cfg.timeout)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	connected := len(conns)
	floodEnd := time.Now()
	sleepCtx(ctx, 3*time.Second)
	// A descriptor the server held at rest only for a moment (a folder
	// read at start) can make a count fall below base: that is none held.
	at3 := max(s.fds()-base, 0)
	lt := cfg.server.loginTimeout
	if lt == 0 {
		lt = 60 * time.Second
	}
	sleepCtx(ctx, time.Until(floodEnd.Add(lt+5*time.Second)))
	afterLT := max(s.fds()-base, 0)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	sleepCtx(ctx, 3*time.Second)
	afterClose := max(s.fds()-base, 0)
	refused := max(connected-preAuthLimit, 0)
	r.Value = fmt.Sprintf("%d held %v after the flood (login timeout %v)", afterLT, lt+5*time.Second, lt)
	r.Detail = fmt.Sprintf("%d silent IMAPS connections from 127.0.0.1 (%d beyond the per-address limit of %d, %d failed to connect); server descriptors above its %d at rest: %d after 3 s, %d after login timeout + 5 s, %d 3 s after the client closed them",
		connected, refused, preAuthLimit, failed, base, at3, afterLT, afterClose)
	r.Data = map[string]any{"connections": connected, "base_fds": base, "fds_3s": at3, "fds_after_login_timeout": afterLT, "fds_after_close": afterClose, "login_timeout_s": lt.Seconds()}
	if !s.running() {
		return errExited
	}
	return nil
}

// silentFlood opens n TCP connections to addr, 50 at a time, and sends
// nothing. It returns the open ones and how many failed.
func silentFlood(ctx context.Context, addr, from string, n int, timeout time.Duration) ([]net.Conn, int) {
	var mu sync.Mutex
	var conns []net.Conn
	var failed atomic.Int64
	next := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := dialer(from, timeout).DialContext(ctx, "tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return conns, int(failed.Load())
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// probePreauthSpool (finding 2) sends APPEND {n+} before login on
// cfg.preauthConns connections at once and samples the bytes in spool/
// every 20 ms.
func probePreauthSpool(ctx context.Context, cfg *reproConfig, r *row) error {
	s, err := freshServer(cfg, "p2-preauth")
	if err != nil {
		return err
	}
	defer s.stop(10 * time.Second)
	size := int64(cfg.preauthMiB) << 20
	dataBase := duBytes(s.data)
	stop := make(chan struct{})
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if b := duBytes(s.spool()); b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	results := make([]preauthResult, cfg.preauthConns)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = preauthAppend(ctx, s.imap, "", size, cfg.timeout)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(stop)
	<-sampled
	sleepCtx(ctx, time.Second)
	after := duBytes(s.spool())
	dataAfter := duBytes(s.data) - dataBase
	var sent int64
	for _, res := range results {
		sent += res.sent
	}
	r.Value = fmt.Sprintf("%s MiB peak", mib(peak.Load()))
	r.Detail = fmt.Sprintf("%d connections × APPEND {%d MiB+} before login, %s MiB sent in %s s; spool/ peak %s MiB, 1 s later %s MiB (data folder +%s MiB); answer: %s",
		cfg.preauthConns, cfg.preauthMiB, mib(sent), secs(elapsed), mib(peak.Load()), mib(after), mib(dataAfter), results[0].answer)
	r.Data = map[string]any{"connections": cfg.preauthConns, "literal_bytes": size, "sent_bytes": sent, "spool_peak_bytes": peak.Load(), "spool_after_bytes": after, "data_growth_bytes": dataAfter, "answer": results[0].answer}
	if !s.running() {
		return errExited
	}
	return nil
}

// preauthResult is what one unauthenticated APPEND got.
type preauthResult struct {
	sent   int64
	answer string
}

// preauthAppend sends "APPEND INBOX {size+}" and the literal without
// logging in, reading the server's answer meanwhile.
func preauthAppend(ctx context.Context, addr, from string, size int64, timeout time.Duration) preauthResult {
	c, err := dialIMAP(ctx, addr, from, false, timeout)
	if err != nil {
		return preauthResult{answer: err.Error()}
	}
	defer c.Close()
	c.NetConn().SetDeadline(time.Now().Add(timeout))
	answer := make(chan string, 1)
	go func() {
		l, err := c.ReadResponse()
		if err != nil && l == "" {
			answer <- "connection closed"
			return
		}
		answer <- l
	}()
	var res preauthResult
	if _, err := fmt.Fprintf(c.NetConn(), "p APPEND INBOX {%d+}\r\n", size); err == nil {
		res.sent, _ = io.CopyN(c.NetConn(), zeroReader{}, size)
		if res.sent == size {
			io.WriteString(c.NetConn(), "\r\n")
		}
	}
	select {
	case res.answer = <-answer:
	case <-time.After(timeout):
		res.answer = fmt.Sprintf("no answer in %v", timeout)
	}
	return res
}

// zeroReader yields 'x' bytes with a CRLF every 76, a valid message body.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
		if i%78 == 76 {
			p[i] = '\r'
		} else if i%78 == 77 {
			p[i] = '\n'
		}
	}
	return len(p), nil
}
