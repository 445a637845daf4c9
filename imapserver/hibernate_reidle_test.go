package imapserver

import "testing"

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
		{"", "a1 NOOP\r\n", "", "", false},
		{"", "a1 IDLE", "", "", false},
		{"i0", "DONE", "", "", false},                 // partial line
		{"i0", "DONE\r\na1 IDLE", "", "", false},      // partial line
		{"i0", "DONE\r\na1 IDLE\r\nx", "", "", false}, // more after it
		{"i0", "DONE\r\na1 NOOP\r\n", "", "", false},  // another command
		{"i0", "DONE\r\na+ IDLE\r\n", "", "", false},  // bad tag
		{"i0", "DONE\r\na1 IDLE x\r\n", "", "", false},
		{"i0", "DONE \r\na1 IDLE\r\n", "", "", false}, // not DONE: BAD in an active session
		{"i0", "DONE\r\n\r\na1 IDLE\r\n", "", "", false},
		{"i0", "DONE\r\na1  IDLE\r\n", "", "", false},
		{"i0", "a1 IDLE\r\n", "", "", false}, // IDLE inside IDLE
	} {
		out, tag, ok := answerAsleep(tc.idleTag, []byte(tc.in))
		if string(out) != tc.out || tag != tc.tag || ok != tc.ok {
			t.Errorf("answerAsleep(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.idleTag, tc.in, out, tag, ok, tc.out, tc.tag, tc.ok)
		}
	}
}
