package imapserver_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestUIDCommandSeesNewMessages: a UID command naming a message that
// another session appended a moment ago (its UID taken from APPENDUID, as
// a client with several connections does) acts on it, after an EXISTS
// that tells of it. Found by bench/torture: UID STORE and UID EXPUNGE
// used to resolve the UID against the stale view, skip it, and answer OK.
func TestUIDCommandSeesNewMessages(t *testing.T) {
	tests := []struct {
		name  string
		cmds  []string // %s is the new message's UID
		check string   // STATUS Box answer afterwards
		saw   string   // regexp one of the responses must match
	}{
		{"UID STORE and EXPUNGE", []string{`UID STORE %s +FLAGS.SILENT (\Deleted)`, "UID EXPUNGE %s"}, "MESSAGES 0", `^\* 1 EXPUNGE$`},
		{"UID STORE", []string{`UID STORE %s +FLAGS (\Flagged)`}, "MESSAGES 1", `^\* 1 FETCH \(UID \d+ FLAGS \(\\Flagged`},
		{"UID FETCH", []string{"UID FETCH %s (UID)"}, "MESSAGES 1", `^\* 1 FETCH \(UID \d+\)$`},
		{"UID MOVE", []string{"UID MOVE %s Other"}, "MESSAGES 0", `^\* OK \[COPYUID \d+ \d+ 1\]`},
		{"UID COPY", []string{"UID COPY %s Other"}, "MESSAGES 1", `COPYUID \d+ \d+ 1\]`},
		{"UID SEARCH", []string{"UID SEARCH UID %s"}, "MESSAGES 1", `^\* SEARCH \d+$`},
	}
	re := regexp.MustCompile(`APPENDUID \d+ (\d+)`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.Start(t)
			a := srv.Login(t, srv.Alice)
			a.Cmd("c1 CREATE Box")
			a.Cmd("c2 CREATE Other")
			a.Cmd("c3 SELECT Box")
			b := srv.Login(t, srv.Alice)
			msg := testMessage(1)
			b.Send(fmt.Sprintf("ap APPEND Box {%d+}", len(msg)))
			b.Write(msg + "\r\n")
			lines := b.ReadUntilTagged("ap")
			m := re.FindStringSubmatch(lines[len(lines)-1])
			if m == nil {
				t.Fatalf("APPEND: %q", lines)
			}
			var all []string
			for i, cmd := range tt.cmds {
				got := a.Cmd(fmt.Sprintf("u%d %s", i, fmt.Sprintf(cmd, m[1])))
				if last := got[len(got)-1]; !strings.HasPrefix(last, fmt.Sprintf("u%d OK", i)) {
					t.Fatalf("%s: %q", cmd, got)
				}
				all = append(all, got...)
			}
			if all[0] != "* 1 EXISTS" {
				t.Errorf("first response %q, want the EXISTS telling of the message", all[0])
			}
			seen := regexp.MustCompile(tt.saw)
			if !slices.ContainsFunc(all, seen.MatchString) {
				t.Errorf("responses %q lack /%s/", all, tt.saw)
			}
			st := b.Cmd("s1 STATUS Box (MESSAGES)")
			if !strings.Contains(st[0], tt.check) {
				t.Fatalf("afterwards %q, want %s", st[0], tt.check)
			}
		})
	}
}
