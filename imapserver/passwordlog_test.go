package imapserver_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/internal/testserver"
)

// syncBuffer is a bytes.Buffer that the server's goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPasswordsNotLogged logs in with LOGIN (quoted and literal) and
// AUTHENTICATE PLAIN (initial response and continuation), right and wrong,
// with a server logging at debug level, and checks that no password
// appears in its log, neither as given nor base64-encoded.
func TestPasswordsNotLogged(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var logBuf syncBuffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var h slog.Handler = slog.NewTextHandler(&logBuf, opts)
			if format == "json" {
				h = slog.NewJSONHandler(&logBuf, opts)
			}
			srv := testserver.Start(t, testserver.WithLogger(slog.New(h)))
			const good, bad = "Pw-Good-7f3kQz", "Pw-Bad-9x2mWv"
			if err := auth.AddUser(srv.PasswdFile, "carol", good); err != nil {
				t.Fatal(err)
			}
			plain := func(pw string) string {
				return base64.StdEncoding.EncodeToString([]byte("\x00carol\x00" + pw))
			}
			for _, pw := range []string{good, bad} {
				steps := [][]string{
					{fmt.Sprintf("a1 LOGIN carol %q", pw)},
					{"a1 LOGIN carol " + lit(pw)},
					{"a1 AUTHENTICATE PLAIN " + plain(pw)},
					{"a1 AUTHENTICATE PLAIN", plain(pw)},
				}
				for _, s := range steps {
					c := srv.Dial(t)
					c.Send(s[0])
					if len(s) > 1 {
						if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
							t.Fatalf("%s: %q", s[0], l)
						}
						c.Send(s[1])
					}
					lines := c.ReadUntilTagged("a1")
					want := "a1 OK"
					if pw == bad {
						want = "a1 NO"
					}
					if last := lines[len(lines)-1]; !strings.HasPrefix(last, want) {
						t.Fatalf("%s: %q, want %s", s[0], last, want)
					}
					c.Cmd("a2 LOGOUT")
				}
			}
			srv.Close()
			log := logBuf.String()
			if !strings.Contains(log, "carol") {
				t.Fatalf("the log does not mention the logins at all:\n%s", log)
			}
			for _, secret := range []string{good, bad, plain(good), plain(bad)} {
				if strings.Contains(log, secret) {
					t.Errorf("the log holds the secret %q", secret)
				}
			}
		})
	}
}
