package imapserver_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// lit writes s as a non-synchronizing literal (LITERAL+), so that any
// byte, NUL and CR included, reaches the server as part of a name.
func lit(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// hostileNames try to leave the user's Maildir or reach another user's:
// relative and absolute paths, modified UTF-7 that decodes to "." and "/",
// control bytes, Maildir++ separators and names too long for a file name.
var hostileNames = []string{
	"..", ".", "../bob", "../../bob/Maildir", "../../../../../tmp/escaped",
	"/x", "/tmp/escaped", "INBOX/../../bob", "a/../../b", "a/./b", "./x", "a//b", "a/",
	"&AC4ALg-", "&AC4ALgAv-bob", "&AC8-", "&AC8-tmp&AC8-escaped", "INBOX&AC8ALgAu-", "&AC4-",
	"a\x00b", "\x00", "a\rb", "a\nb", "a\x7fb",
	"..bob", ".bob", "INBOX.bob", "~bob", "~bob/INBOX", "~/x", "%2E%2E", "%2e%2e/bob", `..\bob`, `\x`,
	"Other Users/bob", "Other Users/bob/INBOX", "#user/bob", "#shared/bob", "users/bob/Maildir",
	strings.Repeat("a", 300), strings.Repeat("b/", 200) + "c", strings.Repeat("&AC4-", 100),
	strings.Repeat("é", 200),
}

// TestMailboxNamesStayInside runs CREATE, SELECT, EXAMINE, STATUS, APPEND,
// COPY, MOVE, RENAME (both ways), SUBSCRIBE and DELETE with each hostile
// name and checks that the server answers each command (OK, NO or BAD, no
// crash), that nothing outside alice's Maildir changed, and that inside
// it every folder is a Maildir++ one (".name" directly in the Maildir).
func TestMailboxNamesStayInside(t *testing.T) {
	srv := testserver.Start(t)
	// bob's mail exists before, so that there is something to reach.
	b := srv.Login(t, srv.Bob)
	b.Cmd("b1 CREATE BobPrivate")
	appendMsg(t, b, "INBOX", "", "Subject: BOB-SECRET\r\n\r\nbob only\r\n")
	b.Cmd("b2 LOGOUT")
	c := srv.Login(t, srv.Alice)
	appendMsg(t, c, "INBOX", "", testMessage(1))
	root := filepath.Dir(srv.DataDir)
	alice := filepath.Join(srv.DataDir, "users", "alice")
	outside := tree(t, root, alice)
	names := append(hostileNames, filepath.Join(srv.DataDir, "users", "bob", "Maildir"),
		filepath.Join(srv.DataDir, "users", "bob", "Maildir", ".BobPrivate"))

	for i, name := range names {
		tag := fmt.Sprintf("h%d", i)
		n := lit(name)
		for j, cmd := range []string{
			"CREATE " + n,
			"SELECT " + n,
			"FETCH 1:* (FLAGS BODY.PEEK[])",
			"EXAMINE " + n,
			"STATUS " + n + " (MESSAGES UIDNEXT)",
			"APPEND " + n + " " + lit(testMessage(2)),
			"SELECT INBOX",
			"COPY 1 " + n,
			"CREATE Scratch",
			"RENAME Scratch " + n,
			"RENAME " + n + " Scratch2",
			"SUBSCRIBE " + n,
			"LIST \"\" " + n,
			"LIST " + n + " \"*\"",
			"DELETE " + n,
			"DELETE Scratch",
			"DELETE Scratch2",
		} {
			lines := c.Cmd(fmt.Sprintf("%s.%d %s", tag, j, cmd))
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, fmt.Sprintf("%s.%d ", tag, j)) {
				t.Fatalf("%q: %s: %q", name, cmd, lines)
			}
			for _, l := range lines {
				if strings.Contains(l, "BOB-SECRET") || strings.Contains(l, "BobPrivate") {
					t.Fatalf("%q: %s: alice sees bob's mail: %q", name, cmd, l)
				}
			}
		}
	}
	// MOVE last, as it takes the message away.
	c.Cmd("m0 SELECT INBOX")
	for i, name := range names {
		c.Cmd(fmt.Sprintf("m%d MOVE 1:* %s", i+1, lit(name)))
	}

	if got := tree(t, root, alice); !equalTrees(outside, got) {
		t.Fatalf("outside alice's folder, the tree changed:\nbefore %q\nafter  %q", outside, got)
	}
	checkMaildirShape(t, filepath.Join(alice, "Maildir"))
}

// tree lists every path under root except those under skip, with the size
// of each file, sorted.
func tree(t *testing.T, root, skip string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out = append(out, rel+"/")
		} else if strings.HasSuffix(p, ".db") {
			out = append(out, rel) // an index may change size as it is used
		} else {
			out = append(out, fmt.Sprintf("%s %d", rel, info.Size()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func equalTrees(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// checkMaildirShape checks that md holds only cur/, new/, tmp/, files, and
// Maildir++ folders (".name", no "/" inside, not "." or "..") that hold
// only cur/, new/, tmp/ and files, without deeper folders.
func checkMaildirShape(t *testing.T, md string) {
	t.Helper()
	sub := map[string]bool{"cur": true, "new": true, "tmp": true}
	entries, err := os.ReadDir(md)
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, e := range entries {
		switch {
		case !e.IsDir() || sub[e.Name()]:
		case strings.HasPrefix(e.Name(), ".") && e.Name() != "." && e.Name() != "..":
			folders = append(folders, e.Name())
			inner, err := os.ReadDir(filepath.Join(md, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range inner {
				if f.IsDir() && !sub[f.Name()] {
					t.Errorf("folder %q holds a directory %q", e.Name(), f.Name())
				}
			}
		default:
			t.Errorf("Maildir holds a directory %q that is not a Maildir++ folder", e.Name())
		}
	}
	t.Logf("Maildir++ folders made by the hostile names: %q", folders)
}
