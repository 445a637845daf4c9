package interop

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/internal/imaptest"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestHighestModSeqHeldBackLikeDovecot plays one transcript against
// Dovecot (Debian's dovecot-imapd, a private instance) and Dormouse:
// session a, QRESYNC on, has messages 1 to 3 selected; b flags message
// 2 \Deleted and expunges it (MODSEQ E), then flags message 1; a runs a
// STORE, FETCH (FLAGS MODSEQ) or SEARCH MODSEQ by sequence number, which
// may not tell it of the expunge (RFC 9051 7.5.1) but tells it a MODSEQ
// above E (message 1's, or its STORE's). RFC 7162 3.2 asks for a
// HIGHESTMODSEQ below E after them. Both servers must answer alike: no
// VANISHED, the FETCHes, then the tagged OK carrying the HIGHESTMODSEQ a
// had from its SELECT; a NOOP then tells VANISHED and the mailbox's
// HIGHESTMODSEQ (STATUS's; Dovecot in the tagged OK, Dormouse untagged).
// (Dovecot 2.3 does this for QRESYNC sessions only; Dormouse for
// CONDSTORE ones too, imapserver TestHighestModSeqHeldBack.) Without root
// or Dovecot the test skips, or fails under REQUIRE_INTEROP=1.
func TestHighestModSeqHeldBackLikeDovecot(t *testing.T) {
	dovecotBin := "/usr/sbin/dovecot"
	if _, err := os.Stat(dovecotBin); err != nil {
		dovecotBin = requireTool(t, "dovecot")
	}
	if os.Geteuid() != 0 {
		missingClient(t, "a private Dovecot instance must be started as root")
	}
	dc := startDovecot(t, dovecotBin, "")
	dm := testserver.Start(t)
	servers := []struct {
		name string
		srv  *server
	}{
		{"Dovecot", serverAt(t, dc.addr, testserver.User{Name: "alice", Password: "alice-secret"})},
		{"Dormouse", serverAt(t, dm.Addr, dm.Alice)},
	}
	for i, cmd := range []string{`STORE 3 +FLAGS (\Seen)`, "FETCH 1:3 (FLAGS MODSEQ)", "SEARCH MODSEQ 1"} {
		for _, s := range servers {
			t.Run(s.name+"/"+cmd, func(t *testing.T) {
				heldBackTranscript(t, s.srv, "held"+strconv.Itoa(i), cmd)
			})
		}
	}
}

var (
	heldBackCode   = regexp.MustCompile(`^\S+ OK \[HIGHESTMODSEQ (\d+)\]`)
	heldBackModSeq = regexp.MustCompile(`\bMODSEQ \((\d+)\)`)
)

// heldBackTranscript runs TestHighestModSeqHeldBackLikeDovecot's
// transcript on srv.
func heldBackTranscript(t *testing.T, srv *server, box, cmd string) {
	dial := func() *imaptest.Client {
		c := imaptest.DialT(t, srv.addr, imaptest.DialOptions{})
		c.Login(srv.user, srv.pass)
		return c
	}
	number := func(re *regexp.Regexp, l string) uint64 {
		m := re.FindStringSubmatch(l)
		if m == nil {
			return 0
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	b := dial()
	b.MustOK("CREATE " + box)
	for i := 1; i <= 3; i++ {
		if st := b.Append(box, simpleMessage(strconv.Itoa(i)+"@held.example", "held "+strconv.Itoa(i), "body")); !strings.Contains(st, "OK") {
			t.Fatalf("APPEND: %s", st)
		}
	}
	a := dial()
	a.MustOK("ENABLE QRESYNC")
	var h0 uint64
	for _, l := range a.MustOK("SELECT " + box) {
		h0 = max(h0, number(heldBackCode, l))
	}
	b.MustOK("SELECT " + box)
	b.MustOK(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.MustOK("EXPUNGE")
	// STATUS from a session with nothing selected: Dovecot answers one
	// that has the mailbox selected from what that session last synced.
	st := dial()
	status := func() uint64 {
		for _, l := range st.MustOK("STATUS " + box + " (HIGHESTMODSEQ)") {
			if _, rest, ok := strings.Cut(l, "(HIGHESTMODSEQ "); ok {
				n, _ := strconv.ParseUint(strings.TrimSuffix(rest, ")"), 10, 64)
				return n
			}
		}
		t.Fatal("no STATUS HIGHESTMODSEQ")
		return 0
	}
	expunge := status()
	b.MustOK(`STORE 1 +FLAGS.SILENT (\Flagged)`)

	a.Send("f " + cmd)
	lines := a.ReadUntilTagged("f")
	t.Logf("E=%d, SELECT's HIGHESTMODSEQ %d: %q", expunge, h0, lines)
	var told uint64
	for _, l := range lines {
		if strings.HasPrefix(l, "* VANISHED") {
			t.Fatalf("STORE by sequence number told the expunge: %q", lines)
		}
		told = max(told, number(heldBackModSeq, l))
	}
	if told <= expunge {
		t.Fatalf("no MODSEQ above the expunge's %d told: %q", expunge, lines)
	}
	if got := number(heldBackCode, lines[len(lines)-1]); got != h0 {
		t.Fatalf("tagged %q: want OK [HIGHESTMODSEQ %d] (SELECT's, below the expunge's %d)", lines[len(lines)-1], h0, expunge)
	}

	a.Send("n NOOP")
	lines = a.ReadUntilTagged("n")
	t.Logf("NOOP: %q", lines)
	var highest uint64
	expunged := false
	for _, l := range lines {
		expunged = expunged || l == "* VANISHED 2"
		if n := number(heldBackCode, l); n > 0 {
			highest = n
		}
	}
	if want := status(); !expunged || highest != want {
		t.Fatalf("NOOP: %q, want * VANISHED 2 and HIGHESTMODSEQ %d", lines, want)
	}
}
