package imapserver_test

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestSilentTLSFlood holds a flood of IMAPS connections that never send a
// ClientHello, from one address (127.0.0.2), against a per-address limit
// of 8. Those over the limit must be closed at once
// (before, the refusal's BYE started a handshake that waited for the
// ClientHello for ever), the 8 admitted ones at the TLS handshake deadline
// (before, the login timeout), and meanwhile a real user from another
// address logs in over IMAPS.
func TestSilentTLSFlood(t *testing.T) {
	const limit, flood, handshake = 8, 200, 5 * time.Second
	srv := testserver.Start(t, testserver.WithTLS(true), testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.MaxPreAuthPerAddr = limit
		cfg.Limits.TLSHandshakeTimeout = handshake
		cfg.Limits.LoginTimeout = 10 * time.Minute
	}))
	start := time.Now()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	silent := make([]net.Conn, flood)
	for i := range silent {
		nc, err := dialer.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { nc.Close() })
		silent[i] = nc
	}

	// The rightful user, from 127.0.0.1, is not held up by the flood.
	c := srv.DialTLS(t)
	if !strings.HasPrefix(c.Greeting, "* OK") {
		t.Fatalf("real user's greeting: %q", c.Greeting)
	}
	for _, cmd := range []string{"a1 LOGIN alice alice-secret", "a2 SELECT INBOX"} {
		if got := c.Cmd(cmd); !strings.Contains(got[len(got)-1], " OK ") {
			t.Fatalf("%s: %q", cmd, got)
		}
	}

	// Every silent connection ends: the refused ones at once, the
	// admitted ones at the handshake deadline. A read sees the end as
	// EOF (or a reset); a timeout means the server still holds it.
	ended := make(chan time.Duration, flood)
	for i, nc := range silent {
		go func() {
			nc.SetReadDeadline(time.Now().Add(time.Minute))
			_, err := nc.Read(make([]byte, 1))
			switch {
			case err == nil:
				t.Errorf("silent connection %d: the server sent bytes before any ClientHello", i)
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("silent connection %d still open after a minute", i)
			case !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "connection reset"):
				t.Errorf("silent connection %d: %v", i, err)
			}
			ended <- time.Since(start)
		}()
	}
	var early int
	for range flood {
		if <-ended < handshake {
			early++
		}
	}
	t.Logf("%d silent connections: %d closed before the handshake deadline of %v", flood, early, handshake)
	if early != flood-limit {
		t.Errorf("%d connections closed before the handshake deadline, want the %d refused", early, flood-limit)
	}
}
