package imapserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// TestRecentOneSession: IMAP4rev1 sessions on one INBOX, some busy (NOOP
// and STORE, whose commits write the \Recent mark), some idling into
// hibernation, while messages arrive by APPEND from an unselected
// session and by MDA delivery: at the end every new message is \Recent in
// exactly one session (RFC 3501 2.3.2), the first told of it. A stress client
// found a message \Recent in two sessions.
func TestRecentOneSession(t *testing.T) {
	srv := testserver.Start(t, testserver.WithConfig(func(cfg *imapserver.Config) {
		cfg.HibernateAfter = time.Millisecond
	}))
	const busy, sleepers, messages = 6, 6, 150
	fill(t, srv, "INBOX", 1) // UID 1, for the STOREs
	sessions := make([]*testserver.Client, busy+sleepers)
	for i := range sessions {
		c := selectInbox(t, srv)
		c.Timeout = time.Minute
		sessions[i] = c
		if i >= busy {
			c.Send(fmt.Sprintf("i%d IDLE", i))
			c.Expect("S: + idling")
		}
	}
	// The session that claimed UID 1 is the first of the list.
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range sessions[:busy] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				op := "+"
				if n%2 == 1 {
					op = "-"
				}
				c.Cmd(fmt.Sprintf(`b%d UID STORE 1 %sFLAGS (\Flagged)`, i, op))
				c.Cmd(fmt.Sprintf("n%d NOOP", i))
			}
		}()
	}
	writer := srv.Login(t, srv.Alice)
	for n := 2; n <= messages; n++ {
		if n%3 == 0 {
			srv.Deliver(t, srv.Alice.Name, testMessage(n))
			continue
		}
		appendMsg(t, writer, "INBOX", "", testMessage(n))
	}
	close(done)
	wg.Wait()
	appendMsg(t, writer, "INBOX", "", testMessage(messages+1))
	// The deliveries reach the index through the watcher.
	want := fmt.Sprintf("(MESSAGES %d)", messages+1)
	testserver.WaitFor(t, "the deliveries are indexed "+want, func() bool {
		return strings.HasSuffix(writer.Cmd("st STATUS INBOX (MESSAGES)")[0], want)
	})

	owner := map[uint32]int{}
	for i, c := range sessions {
		if i >= busy {
			c.Send("DONE")
			c.ReadUntilTagged(fmt.Sprintf("i%d", i))
		}
		c.Cmd(fmt.Sprintf("z%d NOOP", i))
		for _, uid := range searchUIDs(t, c, fmt.Sprintf("r%d UID SEARCH RECENT", i)) {
			if j, ok := owner[uid]; ok {
				t.Errorf("UID %d is \\Recent in sessions %d and %d", uid, j, i)
			}
			owner[uid] = i
		}
	}
	for uid := uint32(2); uid <= messages+1; uid++ {
		if _, ok := owner[uid]; !ok {
			t.Errorf("UID %d is \\Recent in no session", uid)
		}
	}
	if len(owner) != messages+1 {
		t.Errorf("%d UIDs recent, want %d", len(owner), messages+1)
	}
}

// searchUIDs runs a UID SEARCH and returns the UIDs of its answer.
func searchUIDs(t testing.TB, c *testserver.Client, cmd string) []uint32 {
	t.Helper()
	lines := c.Cmd(cmd)
	if last := lines[len(lines)-1]; !strings.Contains(last, " OK ") {
		t.Fatalf("%s: %q", cmd, lines)
	}
	var uids []uint32
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "* SEARCH")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				t.Fatalf("%s: bad UID %q in %q", cmd, f, l)
			}
			uids = append(uids, uint32(n))
		}
	}
	return uids
}
