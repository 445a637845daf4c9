package imapserver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestClientVanishesMidLiteral: a client that closes its connection in the
// middle of an APPEND literal (small or spooled to a file, synchronizing
// or not) leaves nothing stored, no file in the Maildir's tmp/ and no
// spooled literal, and the server goes on serving, APPEND included.
func TestClientVanishesMidLiteral(t *testing.T) {
	big := strings.Repeat("X-Filler: "+strings.Repeat("x", 60)+"\r\n", 30_000) // 2.1 MB: spooled
	tests := []struct {
		name    string
		size    int
		sync    bool
		sendPct int // how much of the literal is sent before the close
	}{
		{"small synchronizing", len(testMessage(1)), true, 50},
		{"small non-synchronizing", len(testMessage(1)), false, 50},
		{"nothing of the literal", len(testMessage(1)), true, 0},
		{"all but the last byte", len(testMessage(1)), true, 99},
		{"large spooled", len(big), true, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.Start(t)
			// alice's INBOX exists and holds one message before.
			keep := srv.Login(t, srv.Alice)
			appendMsg(t, keep, "INBOX", `\Seen`, testMessage(1))

			c := srv.Login(t, srv.Alice)
			lit := fmt.Sprintf("{%d}", tt.size)
			if !tt.sync {
				lit = fmt.Sprintf("{%d+}", tt.size)
			}
			// The server has read what came when its byte count says so.
			const readKey = "dormouse_imap_read_bytes_total"
			sent := testserver.Gather(t, srv.Metrics)[readKey]
			cmd := "a2 APPEND INBOX " + lit
			sent += float64(len(cmd) + 2)
			c.Send(cmd)
			if tt.sync {
				if l := c.ReadLine(); !strings.HasPrefix(l, "+") {
					t.Fatalf("APPEND: %q", l)
				}
			}
			body := big
			if tt.size != len(big) {
				body = testMessage(2)
			}
			part := body[:tt.size*tt.sendPct/100]
			c.Write(part)
			sent += float64(len(part))
			testserver.WaitFor(t, "the server reads what came", func() bool {
				return testserver.Gather(t, srv.Metrics)[readKey] >= sent
			})
			c.NetConn().Close()

			// The server notices the close and cleans up.
			testserver.WaitFor(t, "the spool is cleaned up", func() bool { return len(leftovers(t, srv)) == 0 })
			keep.Run(`
C: s1 STATUS INBOX (MESSAGES UIDNEXT)
S: * STATUS INBOX (MESSAGES 1 UIDNEXT 2)
S: s1 OK STATUS completed
`)
			appendMsg(t, srv.Login(t, srv.Alice), "INBOX", "", testMessage(3))
			keep.Run(`
C: s2 STATUS INBOX (MESSAGES)
S: * STATUS INBOX (MESSAGES 2)
S: s2 OK STATUS completed
`)
		})
	}
}

// leftovers lists spooled literals in the spool folder (the data folder's
// parent in testserver) and files in alice's Maildir tmp/.
func leftovers(t *testing.T, srv *testserver.Server) []string {
	t.Helper()
	spooled, err := filepath.Glob(filepath.Join(filepath.Dir(srv.DataDir), "dormouse-literal-*"))
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.ReadDir(filepath.Join(srv.DataDir, "users", "alice", "Maildir", "tmp"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range tmp {
		spooled = append(spooled, "tmp/"+e.Name())
	}
	return spooled
}
