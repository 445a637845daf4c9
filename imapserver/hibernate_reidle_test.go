package imapserver

import (
	"slices"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
)

func TestAnswerAsleep(t *testing.T) {
	for _, tc := range []struct {
		idleTag, in string
		out, tag    string
		ok          bool
	}{
		{"i0", "DONE\r\na1 IDLE\r\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "a1", true},
		{"i0", "done\r\nA.2 idle\r\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "A.2", true},
		{"i0", "DONE\na1 IDLE\n", "i0 OK IDLE terminated\r\n+ idling\r\n", "a1", true},
		{"i0", "DONE\r\n", "i0 OK IDLE terminated\r\n", "", true}, // between commands after it
		{"", "a1 IDLE\r\n", "+ idling\r\n", "a1", true},           // and the IDLE that follows
		{"", "DONE\r\n", "", "", false},                           // DONE between commands: BAD, wake
		{"", "DONE\r\na1 IDLE\r\n", "", "", false},
		{"", "a1 NOOP\r\n", "", "", true}, // answered, with what changed
		{"", "a1 CHECK\r\n", "", "", true},
		{"", "a1 noop x\r\n", "", "", false},
		{"", "a1 IDLE", "", "", false},
		{"i0", "DONE", "", "", false},                 // partial line
		{"i0", "DONE\r\na1 IDLE", "", "", false},      // partial line
		{"i0", "DONE\r\na1 IDLE\r\nx", "", "", false}, // more after it
		{"i0", "DONE\r\na1 NOOP\r\n", "i0 OK IDLE terminated\r\n", "", true},
		{"i0", "DONE\r\na1 FETCH 1 FLAGS\r\n", "", "", false}, // another command
		{"i0", "DONE\r\na+ IDLE\r\n", "", "", false},          // bad tag
		{"i0", "DONE\r\na1 IDLE x\r\n", "", "", false},
		{"i0", "DONE \r\na1 IDLE\r\n", "", "", false}, // not DONE: BAD in an active session
		{"i0", "DONE\r\n\r\na1 IDLE\r\n", "", "", false},
		{"i0", "DONE\r\na1  IDLE\r\n", "", "", false},
		{"i0", "a1 IDLE\r\n", "", "", false}, // IDLE inside IDLE
	} {
		a, ok := answerAsleep(tc.idleTag, "INBOX", enabled{}, []byte(tc.in))
		out, tag := a.out, a.idleTag
		if string(out) != tc.out || tag != tc.tag || ok != tc.ok {
			t.Errorf("answerAsleep(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.idleTag, tc.in, out, tag, ok, tc.out, tc.tag, tc.ok)
		}
	}
}

// TestAnswerAsleepCommand: NOOP and CHECK are answered with their tagged
// OK as exec writes it; CHECK only with a mailbox selected (an awake
// session answers BAD without one: a full wake says so).
func TestAnswerAsleepCommand(t *testing.T) {
	for _, tc := range []struct {
		idleTag, in string
		selected    bool
		done, cmd   string
		ok          bool
	}{
		{"", "a1 NOOP\r\n", true, "a1 OK NOOP completed\r\n", "a1 NOOP\r\n", true},
		{"", "a1 noop\r\n", false, "a1 OK NOOP completed\r\n", "a1 noop\r\n", true},
		{"", "a1 Check\r\n", true, "a1 OK CHECK completed\r\n", "a1 Check\r\n", true},
		{"", "a1 CHECK\r\n", false, "", "", false},
		{"i0", "DONE\r\nn NOOP\r\n", true, "n OK NOOP completed\r\n", "n NOOP\r\n", true},
		{"", "a1 NOOP\r\na2 NOOP\r\n", true, "", "", false},
	} {
		a, ok := answerAsleep(tc.idleTag, selectedName(tc.selected), enabled{}, []byte(tc.in))
		if string(a.done) != tc.done || (tc.ok && string(a.cmd) != tc.cmd) || ok != tc.ok {
			t.Errorf("answerAsleep(%q, %v, %q) = done %q, cmd %q, %v; want %q, %q, %v", tc.idleTag, tc.selected, tc.in, a.done, a.cmd, ok, tc.done, tc.cmd, tc.ok)
		}
	}
}

// TestAnswerAsleepFetch: the UID FETCH forms a sleeper answers itself
// (flags only, no modifier), and those left for a full wake.
func TestAnswerAsleepFetch(t *testing.T) {
	for _, tc := range []struct {
		idleTag, in string
		selected    bool
		condstore   bool
		done        string // "" for a full wake
	}{
		{"i0", "DONE\r\n5 UID FETCH 55:* (FLAGS)\r\n", true, false, "5 OK UID FETCH completed\r\n"},
		{"", "5 uid fetch 55:* FLAGS\r\n", true, false, "5 OK UID FETCH completed\r\n"},
		{"", "5 UID FETCH 1,3:4,* (UID FLAGS)\r\n", true, false, "5 OK UID FETCH completed\r\n"},
		{"", "5 UID FETCH 55:* (FLAGS MODSEQ)\r\n", true, true, "5 OK UID FETCH completed\r\n"},
		{"", "5 UID FETCH 55:* (FLAGS MODSEQ)\r\n", true, false, ""}, // MODSEQ turns CONDSTORE on
		{"", "5 UID FETCH 55:* (FLAGS)\r\n", false, false, ""},       // nothing selected: BAD
		{"", "5 UID FETCH 55:* (UID)\r\n", true, false, ""},
		{"", "5 UID FETCH 55:* (FLAGS RFC822.SIZE)\r\n", true, false, ""},
		{"", "5 UID FETCH 55:* (FLAGS) (CHANGEDSINCE 3)\r\n", true, true, ""},
		{"", "5 UID FETCH $ (FLAGS)\r\n", true, false, ""},
		{"", "5 FETCH 1:* (FLAGS)\r\n", true, false, ""}, // by sequence number
		{"", "5 UID STORE 1 +FLAGS (\\Seen)\r\n", true, false, ""},
		{"", "5 UID FETCH 55:* (FLAGS\r\n", true, false, ""}, // BAD
		{"", "5 UID FETCH 55:* (FLAGS)\r\n6 NOOP\r\n", true, false, ""},
	} {
		a, ok := answerAsleep(tc.idleTag, selectedName(tc.selected), enabled{condstore: tc.condstore}, []byte(tc.in))
		if tc.done == "" {
			if ok {
				t.Errorf("answerAsleep(%q) answered asleep, want a full wake", tc.in)
			}
			continue
		}
		if !ok || string(a.done) != tc.done || a.fetch == nil || a.name != "FETCH" {
			t.Errorf("answerAsleep(%q) = done %q, fetch %v, name %q, %v; want %q", tc.in, a.done, a.fetch, a.name, ok, tc.done)
		}
	}
}

// TestUIDsInSet: an asleep view's UIDs named by a UID set, as resolveSet
// names them in an awake view.
func TestUIDsInSet(t *testing.T) {
	r := func(a, b uint32) hibernate.UIDRange { return hibernate.UIDRange{First: a, Last: b} }
	view := []hibernate.UIDRange{r(1, 3), r(7, 7), r(10, 12)}
	for _, tc := range []struct {
		set   string
		want  []uint32
		limit int
		ok    bool
	}{
		{"13:*", []uint32{12}, 16, true}, // n above the last UID: the last message
		{"12:*", []uint32{12}, 16, true},
		{"*:11", []uint32{11, 12}, 16, true},
		{"5:8", []uint32{7}, 16, true},
		{"4:6", nil, 16, true},
		{"2,11,1:2", []uint32{1, 2, 11}, 16, true},
		{"1:*", nil, 5, false},
	} {
		set, err := imapwire.ParseSeqSet(tc.set)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := uidsInSet(view, set, tc.limit)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("uidsInSet(%s) = %v, %v; want %v, %v", tc.set, got, ok, tc.want, tc.ok)
		}
	}
	if got, ok := uidsInSet(nil, imapwire.SeqSet{Ranges: []imapwire.SeqRange{{Start: 5, Stop: 0}}}, 16); !ok || len(got) != 0 {
		t.Errorf("uidsInSet of an empty view = %v, %v; want none", got, ok)
	}
}

// TestWakeCommand: the label a client's wake is counted under.
func TestWakeCommand(t *testing.T) {
	for _, tc := range []struct{ idleTag, in, want string }{
		{"", "a1 FETCH 1:* (FLAGS)\r\n", "FETCH"},
		{"i0", "DONE\r\na1 uid fetch 55:* (FLAGS)\r\n", "UID FETCH"},
		{"i0", "DONE\r\na1 NOOP\r\na2 IDLE\r\n", "NOOP"},
		{"", "a1 SELECT Drafts\r\n", "SELECT"},
		{"", "a1 SELE", "partial"},
		{"i0", "DONE\r\n", "partial"},
		{"", "DONE\r\n", "DONE"},
		{"", "a1 XYZZY\r\n", "other"},
		{"", "a1 UID XYZZY 1\r\n", "other"},
		{"", "a1 APPEND INBOX {3}\r\n", "APPEND"},
	} {
		if got := wakeCommand(tc.idleTag, []byte(tc.in)); got != tc.want {
			t.Errorf("wakeCommand(%q, %q) = %q, want %q", tc.idleTag, tc.in, got, tc.want)
		}
	}
}

// selectedName is the mailbox answerAsleep is given: INBOX, or none.
func selectedName(selected bool) string {
	if selected {
		return "INBOX"
	}
	return ""
}

// TestAnswerAsleepQuotaRoot: GETQUOTAROOT of the selected mailbox only.
func TestAnswerAsleepQuotaRoot(t *testing.T) {
	for _, tc := range []struct {
		mailbox, in string
		done        string // "" for a full wake
	}{
		{"INBOX", "94 getquotaroot \"INBOX\"\r\n", "94 OK GETQUOTAROOT completed\r\n"},
		{"INBOX", "94 GETQUOTAROOT inbox\r\n", "94 OK GETQUOTAROOT completed\r\n"},
		{"Drafts", "94 getquotaroot \"Drafts\"\r\n", "94 OK GETQUOTAROOT completed\r\n"},
		{"Drafts", "94 getquotaroot \"Sent\"\r\n", ""},
		{"", "94 getquotaroot \"INBOX\"\r\n", ""},
		{"INBOX", "94 getquotaroot\r\n", ""},
	} {
		a, ok := answerAsleep("", tc.mailbox, enabled{}, []byte(tc.in))
		if tc.done == "" {
			if ok {
				t.Errorf("answerAsleep(%q, %q) answered asleep, want a full wake", tc.mailbox, tc.in)
			}
			continue
		}
		if !ok || string(a.done) != tc.done || !a.quota {
			t.Errorf("answerAsleep(%q, %q) = done %q, quota %v, %v; want %q", tc.mailbox, tc.in, a.done, a.quota, ok, tc.done)
		}
	}
}
