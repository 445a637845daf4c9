package imapserver_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// highestModSeqLine matches the untagged OK [HIGHESTMODSEQ n] of an update.
var highestModSeqLine = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\] Highest$`)

// TestHighestModSeqAfterAppend plays interimap's copy of a new message:
// an APPEND into the selected mailbox with CONDSTORE or QRESYNC on. The
// session is told EXISTS, then OK [HIGHESTMODSEQ m] before the tagged OK,
// m being the new message's MODSEQ, as Dovecot does (RFC 7162 3.1.2.1);
// a UID STORE (UNCHANGEDSINCE m) of the message then succeeds. Told only
// the EXISTS, interimap kept the old HIGHESTMODSEQ, its STORE failed with
// MODIFIED and it copied its own flags back over the other side's
// (docs/reliability.md). Its own STORE's FETCH carries its MODSEQ: a NOOP
// after it says nothing. Without CONDSTORE, no HIGHESTMODSEQ.
func TestHighestModSeqAfterAppend(t *testing.T) {
	cases := []struct {
		name      string
		enable    string // ENABLE arguments, if any
		sel       string // the SELECT command
		recent    bool   // IMAP4rev1: RECENT after EXISTS
		condstore bool
	}{
		{"CONDSTORE", "CONDSTORE", "SELECT INBOX", true, true},
		{"QRESYNC", "QRESYNC", "SELECT INBOX", true, true},
		{"SELECT CONDSTORE", "", "SELECT INBOX (CONDSTORE)", true, true},
		{"IMAP4rev2 QRESYNC", "IMAP4rev2 QRESYNC", "SELECT INBOX", false, true},
		{"no CONDSTORE", "", "SELECT INBOX", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := testserver.Start(t)
			c := srv.Login(t, srv.Alice)
			if tc.enable != "" {
				mustOK(t, c, "e ENABLE "+tc.enable)
			}
			mustOK(t, c, "s "+tc.sel)
			msg := testMessage(1)
			c.Write(fmt.Sprintf("a APPEND INBOX (\\Seen) {%d+}\r\n%s\r\n", len(msg), msg))
			c.Expect("S: * 1 EXISTS")
			if tc.recent {
				c.Expect("S: * 1 RECENT")
			}
			var told uint64
			if tc.condstore {
				m := highestModSeqLine.FindStringSubmatch(c.ReadLine())
				if m == nil {
					t.Fatal("no OK [HIGHESTMODSEQ] after the EXISTS of an APPEND")
				}
				told, _ = strconv.ParseUint(m[1], 10, 64)
			}
			c.Expect(`S~ a OK \[APPENDUID \d+ 1\] APPEND completed`)
			if !tc.condstore {
				c.Run("C: n NOOP\nS: n OK NOOP completed")
				return
			}
			lines := c.Cmd("f UID FETCH 1 (MODSEQ)")
			if got := modseqOf(t, lines[0]); got != told {
				t.Fatalf("told HIGHESTMODSEQ %d, the new message's MODSEQ is %d", told, got)
			}
			// interimap's push of a flag set on the other side.
			lines = c.Cmd(fmt.Sprintf(`u UID STORE 1 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Flagged)`, told))
			if last := lines[len(lines)-1]; last != "u OK UID STORE completed" {
				t.Fatalf("UID STORE (UNCHANGEDSINCE %d) of the appended message: %q", told, lines)
			}
			c.Run("C: n NOOP\nS: n OK NOOP completed")
		})
	}
}

// TestHighestModSeqAfterChanges: a CONDSTORE or QRESYNC session told of
// another session's change to its mailbox, in IDLE, at a NOOP or by
// NOTIFY SELECTED between commands, awake and hibernated, is told the
// mailbox's new HIGHESTMODSEQ after an EXISTS and after an expunge
// (EXPUNGE or VANISHED), which no FETCH carried, and not after a flag
// change, whose FETCH carries its MODSEQ. The awake session and the
// sleeper write the same bytes (one encoder); the value is the one
// STATUS gives. Each change runs on a fresh server, so that each fails
// on its own.
func TestHighestModSeqAfterChanges(t *testing.T) {
	kinds := []struct {
		name, enable string
		recent       bool   // IMAP4rev1: RECENT after EXISTS
		expunged     string // how message 2 (UID 2) is told gone
	}{
		{"CONDSTORE", "CONDSTORE", true, "* 2 EXPUNGE"},
		{"QRESYNC", "IMAP4rev2 QRESYNC", false, "* VANISHED 2"},
	}
	changes := []struct {
		name string
		// change is other's change (INBOX selected, messages 1 and 2
		// there, 2 flagged \Deleted before n selects); told returns what n must be told of it, highest being
		// the OK [HIGHESTMODSEQ] of STATUS's value.
		change func(t *testing.T, other *testserver.Client)
		told   func(recent bool, expunged, highest string) []string
	}{
		{"new message", func(t *testing.T, other *testserver.Client) {
			appendMsg(t, other, "INBOX", "", testMessage(3))
		}, func(recent bool, _, highest string) []string {
			if recent {
				return []string{"* 3 EXISTS", "* 0 RECENT", highest} // EXAMINE claims none
			}
			return []string{"* 3 EXISTS", highest}
		}},
		{"flag change", func(t *testing.T, other *testserver.Client) {
			mustOK(t, other, `f UID STORE 1 +FLAGS.SILENT (\Flagged)`)
		}, func(bool, string, string) []string {
			// Its FETCH carries the MODSEQ: no HIGHESTMODSEQ.
			return []string{`~\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)`}
		}},
		{"expunge", func(t *testing.T, other *testserver.Client) {
			mustOK(t, other, "x UID EXPUNGE 2")
		}, func(_ bool, expunged, highest string) []string {
			return []string{expunged, highest}
		}},
	}
	for _, after := range []time.Duration{0, time.Millisecond} {
		for _, k := range kinds {
			for _, how := range []string{"IDLE", "NOOP", "NOTIFY"} {
				for _, ch := range changes {
					name := fmt.Sprintf("%s/%s/%s/hibernate_after=%v", k.name, how, ch.name, after)
					t.Run(name, func(t *testing.T) {
						srv := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
							c.HibernateAfter = after
						}))
						fill(t, srv, "INBOX", 2)
						other := selectInbox(t, srv)
						mustOK(t, other, `d UID STORE 2 +FLAGS.SILENT (\Deleted)`)
						n := srv.Login(t, srv.Alice)
						mustOK(t, n, "e ENABLE "+k.enable)
						mustOK(t, n, "s EXAMINE INBOX")
						switch how {
						case "IDLE":
							n.Write("i IDLE\r\n")
							n.Expect("S: + idling")
						case "NOTIFY":
							mustOK(t, n, "ns NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))")
						}
						if after > 0 {
							waitAsleep(t, srv, n)
						}
						ch.change(t, other)
						want := ch.told(k.recent, k.expunged, statusHighest(t, other))
						if how == "NOOP" {
							n.Write("n NOOP\r\n")
							want = append(want, "n OK NOOP completed")
						}
						for _, w := range want {
							if re, ok := strings.CutPrefix(w, "~"); ok {
								n.Expect("S~ " + re)
							} else {
								n.Expect("S: " + w)
							}
						}
						if how != "NOOP" {
							n.ExpectNothing(silence)
						}
						if how == "IDLE" {
							n.Run("C: DONE\nS: i OK IDLE terminated")
						}
						n.Run("C: z NOOP\nS: z OK NOOP completed")
					})
				}
			}
		}
	}
}

// statusHighest returns "* OK [HIGHESTMODSEQ n] Highest" for INBOX's
// HIGHESTMODSEQ n, as STATUS gives it.
func statusHighest(t *testing.T, c *testserver.Client) string {
	t.Helper()
	for _, l := range c.Cmd("st STATUS INBOX (HIGHESTMODSEQ)") {
		if _, rest, ok := strings.Cut(l, "(HIGHESTMODSEQ "); ok {
			return "* OK [HIGHESTMODSEQ " + strings.TrimSuffix(rest, ")") + "] Highest"
		}
	}
	t.Fatal("no STATUS HIGHESTMODSEQ")
	return ""
}

// modseqTold matches a MODSEQ a response tells the client: FETCH's
// "MODSEQ (m)", SEARCH's "(MODSEQ m)", ESEARCH's "MODSEQ m" (not
// HIGHESTMODSEQ).
var modseqTold = regexp.MustCompile(`\bMODSEQ \(?(\d+)\)?`)

// highestModSeqCode matches OK [HIGHESTMODSEQ n], tagged or untagged.
var highestModSeqCode = regexp.MustCompile(`^\S+ OK \[HIGHESTMODSEQ (\d+)\]`)

// TestHighestModSeqHeldBack: session a (CONDSTORE, or QRESYNC) has
// messages 1 to 3 selected; b flags message 2 \Deleted and expunges it
// (the expunge's MODSEQ is E), then flags message 1 (above E). a's next
// command is one that may not tell it of the expunge (RFC 9051 7.5.1):
// FETCH (FLAGS MODSEQ), STORE or SEARCH MODSEQ by sequence number. It
// tells a MODSEQ at or above E (message 1's flags, or its own STORE's),
// so RFC 7162 3.2 asks for a HIGHESTMODSEQ below E after it: a client
// that kept the highest MODSEQ it saw and lost the connection would
// resynchronise from above the expunge and keep message 2 for good.
// Dormouse, as Dovecot, sends the last HIGHESTMODSEQ the client had (the
// SELECT's) in the tagged OK. The NOOP after tells the expunge and then
// the mailbox's HIGHESTMODSEQ (STATUS's), which the client holds a lower
// one than; a STORE then, with a flag change but no expunge pending,
// carries no code. The same for a session asleep
// between commands, woken by the command and answering the NOOP asleep
// (the state blob keeps that a lower value was told).
func TestHighestModSeqHeldBack(t *testing.T) {
	kinds := []struct {
		name, enable string
		expunged     string // how message 2 is told gone
	}{
		{"CONDSTORE", "CONDSTORE", "* 2 EXPUNGE"},
		{"QRESYNC", "IMAP4rev2 QRESYNC", "* VANISHED 2"},
	}
	commands := []struct{ name, cmd string }{
		{"FETCH", "f FETCH 1:3 (FLAGS MODSEQ)"},
		{"STORE", `f STORE 3 +FLAGS (\Seen)`},
		{"SEARCH", "f SEARCH MODSEQ 1"},
	}
	for _, mode := range wakeModes {
		for _, k := range kinds {
			for _, cmd := range commands {
				t.Run(mode.name+"/"+k.name+"/"+cmd.name, func(t *testing.T) {
					srv := startMode(t, mode.asleep)
					fill(t, srv, "INBOX", 3)
					a := srv.Login(t, srv.Alice)
					mustOK(t, a, "e ENABLE "+k.enable)
					var h0 uint64 // the HIGHESTMODSEQ a was told
					for _, l := range a.Cmd("s SELECT INBOX") {
						if m := highestModSeqLine.FindStringSubmatch(l); m != nil {
							h0, _ = strconv.ParseUint(m[1], 10, 64)
						}
					}
					if h0 == 0 {
						t.Fatal("no HIGHESTMODSEQ on SELECT")
					}
					if mode.asleep {
						sleepBetweenCommands(t, srv, a)
					}
					b := selectInbox(t, srv)
					mustOK(t, b, `b1 STORE 2 +FLAGS.SILENT (\Deleted)`)
					mustOK(t, b, "b2 EXPUNGE")
					expungeModSeq := modseqIn(t, statusHighest(t, b))
					mustOK(t, b, `b3 STORE 1 +FLAGS.SILENT (\Flagged)`)

					lines := a.Cmd(cmd.cmd)
					var highest, told uint64 // as a client keeping the highest it saw
					for _, l := range lines {
						if l == k.expunged {
							t.Fatalf("%s told the expunge: %q", cmd.name, lines)
						}
						if m := highestModSeqCode.FindStringSubmatch(l); m != nil {
							highest, _ = strconv.ParseUint(m[1], 10, 64)
							continue
						}
						for _, m := range modseqTold.FindAllStringSubmatch(l, -1) {
							n, _ := strconv.ParseUint(m[1], 10, 64)
							told, highest = max(told, n), max(highest, n)
						}
					}
					if told < expungeModSeq {
						t.Fatalf("the %s told no MODSEQ at or above the expunge's %d: %q", cmd.name, expungeModSeq, lines)
					}
					if highest >= expungeModSeq {
						t.Fatalf("the %s leaves the client at HIGHESTMODSEQ %d, not below the pending expunge's %d: %q",
							cmd.name, highest, expungeModSeq, lines)
					}
					want := fmt.Sprintf("f OK [HIGHESTMODSEQ %d] %s completed", h0, cmd.name)
					if last := lines[len(lines)-1]; last != want {
						t.Fatalf("tagged response %q, want %q", last, want)
					}

					var slept time.Time
					if mode.asleep {
						waitAsleep(t, srv, a)
						slept = sessionOf(t, srv, a).Since
					}
					a.Write("n NOOP\r\n")
					a.Expect("S: "+k.expunged, "S: "+statusHighest(t, b), "S: n OK NOOP completed")
					if mode.asleep {
						checkSameSleep(t, srv, a, slept, "after the NOOP")
					}
					// Flags told with no expunge pending: no code.
					mustOK(t, b, `b4 STORE 1 -FLAGS.SILENT (\Flagged)`)
					lines = a.Cmd(`g STORE 2 -FLAGS (\Seen)`)
					if last := lines[len(lines)-1]; last != "g OK STORE completed" || len(lines) != 3 {
						t.Fatalf("a STORE with no expunge pending: %q", lines)
					}
				})
			}
		}
	}
}

// modseqIn returns the number in an OK [HIGHESTMODSEQ n] line.
func modseqIn(t *testing.T, line string) uint64 {
	t.Helper()
	m := highestModSeqCode.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no HIGHESTMODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}
