package imapserver_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestLoginNamesCannotReachOthers: user names that are paths or carry
// bytes after a real name, given with bob's or alice's right password,
// never log in, and AUTHENTICATE PLAIN cannot act for another user
// through its authorization identity. Nothing is created in the data
// folder by any of it.
func TestLoginNamesCannotReachOthers(t *testing.T) {
	// No throttling: every attempt must reach the password check.
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.Limits.LoginFailuresPerAddr = -1
		cfg.Limits.LoginFailuresPerUser = -1
	}))
	srv.Login(t, srv.Bob).Cmd("b1 LOGOUT") // bob's folder exists
	before := tree(t, filepath.Dir(srv.DataDir), "")
	names := []string{
		"../bob", "./bob", "alice/../bob", "../users/bob", "../../data/users/bob", "/bob",
		"bob/", "bob/..", "bob\x00", "bob\x00alice", "\x00bob", "bob ", " bob", "bob\r\n",
		"users/bob", "~bob", "..", ".", "", strings.Repeat("../", 100) + "bob",
		filepath.Join(srv.DataDir, "users", "bob"),
	}
	for i, name := range names {
		for _, pw := range []string{srv.Bob.Password, srv.Alice.Password} {
			c := srv.Dial(t)
			lines := c.Cmd(fmt.Sprintf("l%d LOGIN %s %s", i, lit(name), lit(pw)))
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, fmt.Sprintf("l%d NO", i)) &&
				!strings.HasPrefix(last, fmt.Sprintf("l%d BAD", i)) {
				t.Errorf("LOGIN %q: %q, want NO or BAD", name, last)
			}
			c.NetConn().Close()
		}
	}
	// PLAIN: authorization identity bob, alice's credentials.
	for _, msg := range []string{"bob\x00alice\x00alice-secret", "../bob\x00alice\x00alice-secret", "alice/../bob\x00alice\x00alice-secret"} {
		c := srv.Dial(t)
		lines := c.Cmd("p1 AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte(msg)))
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "p1 NO") {
			t.Errorf("AUTHENTICATE PLAIN %q: %q, want NO", msg, last)
		}
		c.NetConn().Close()
	}
	if after := tree(t, filepath.Dir(srv.DataDir), ""); !equalTrees(before, after) {
		t.Fatalf("the data folder changed:\nbefore %q\nafter  %q", before, after)
	}
}
