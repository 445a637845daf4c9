//go:build unix

package imapserver_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// processCPU is the CPU time the test process (and so the in-process
// server) has used, user and system.
func processCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestListPathologicalPattern is the hostile-client review's finding 3: LIST patterns that
// made the backtracking matcher run for minutes (or forever) after one
// CREATE of a 40-character name are answered at once.
func TestListPathologicalPattern(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	c.Timeout = time.Minute // generous: the answer takes milliseconds
	long := strings.Repeat("a", 40)
	c.Run("C: a1 CREATE " + long + "\nS~ a1 OK \\[MAILBOXID \\(F[0-9a-f]+\\)\\] CREATE completed\n")
	start := processCPU(t)
	for _, p := range []string{
		"**********q",
		strings.Repeat("%a", 14) + "q",
		strings.Repeat("*a", 14) + "q",
		strings.Repeat("%*", 2000) + "q",
	} {
		c.Run(`C: a2 LIST "" "` + p + `"` + "\nS: a2 OK LIST completed\n")
	}
	c.Run(`C: a3 LIST "" "a*a%"` + "\nS: * LIST (\\HasNoChildren) \"/\" " + long + "\nS: a3 OK LIST completed\n")
	if used := processCPU(t) - start; used > 10*time.Second {
		t.Fatalf("LIST took %v of CPU", used)
	}
	c.Run(`C: a4 LIST "" "` + strings.Repeat("%", 5000) + `"` + "\nS: a4 NO [LIMIT] LIST pattern longer than 4096 bytes\n")
}

// deliverN drops n small messages into alice's INBOX, as an MDA would.
func deliverN(t testing.TB, srv *testserver.Server, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		srv.Deliver(t, srv.Alice.Name, testMessage(i))
	}
}

// TestSearchStopsWhenClientLeaves: a client that closes its connection
// during a long SEARCH stops the work at the next step, instead of leaving
// the server to finish it for nobody (the hostile-client review, finding 5: 23 of 100
// CPU-seconds were spent after the client had gone).
func TestSearchStopsWhenClientLeaves(t *testing.T) {
	srv := testserver.Start(t)
	const n = 300
	deliverN(t, srv, n)
	c := selectInbox(t, srv)
	steps := leaveAtFirstStep(t, srv, c, `s1 SEARCH BODY "not in any message"`)
	// interrupted peeks at the socket at least every 64 steps.
	if got := steps.Load(); got >= n {
		t.Fatalf("SEARCH went on for %d steps of %d after the client left", got, n)
	}
}

// TestShutdownEndsLongCommand: Shutdown keeps its bound while a command
// is in the middle of long work (the hostile-client review: SIGTERM during a 65 s LIST
// could not stop the process), and that work stops.
func TestShutdownEndsLongCommand(t *testing.T) {
	srv := testserver.Start(t)
	const n = 300
	deliverN(t, srv, n)
	c := selectInbox(t, srv)

	// Each step of the SEARCH takes 50 ms: 15 s for the whole mailbox.
	var steps atomic.Int64
	started := make(chan struct{})
	imapserver.SetStepHook(srv.IMAP, func(net.Conn) {
		if steps.Add(1) == 1 {
			close(started)
		}
		time.Sleep(50 * time.Millisecond)
	})
	c.Send(`s1 SEARCH BODY "not in any message"`)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := srv.IMAP.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the context's deadline", err)
	}
	// Generous: the bound is 100 ms plus one step; the search alone
	// would take 15 s.
	if d := time.Since(begin); d > 7*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_commands_interrupted_total,reason=shutdown", 1)
	if got := steps.Load(); got >= n {
		t.Fatalf("SEARCH ran all %d steps through the shutdown", got)
	}
}

// bigTextMessage is a message whose text body is about size bytes of
// words, none of them "zqzqzq".
func bigTextMessage(size int) string {
	line := "the quick brown fox jumps over the lazy dog again and again\r\n"
	return "From: a@example.org\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat(line, size/len(line))
}

// TestSearchKeyLimits is the hostile-client review's finding 5: the number of keys and of
// different text keys of a SEARCH is bounded (NO [LIMIT], the connection
// goes on), and repeated keys cost one evaluation: 1,000 copies of one
// BODY key over a 4 MB message take one pass, not 1,000.
func TestSearchKeyLimits(t *testing.T) {
	srv := testserver.Start(t)
	srv.Deliver(t, srv.Alice.Name, bigTextMessage(4<<20))
	c := selectInbox(t, srv)
	c.Timeout = 2 * time.Minute // generous: the answers take milliseconds

	repeat := func(key string, n int) string { return strings.TrimSpace(strings.Repeat(key+" ", n)) }
	c.Run("C: s1 SEARCH " + repeat("BODY zqzqzq", 5400) + "\nS: s1 NO [LIMIT] Too many search keys (at most 1000)\n")
	var distinct []string
	for i := range 65 {
		distinct = append(distinct, "BODY zq"+strconv.Itoa(i))
	}
	c.Run("C: s2 SEARCH " + strings.Join(distinct, " ") + "\nS: s2 NO [LIMIT] Too many different text search keys (at most 64)\n")

	start := processCPU(t)
	c.Run("C: s3 SEARCH " + repeat("BODY quick", 999) + "\nS: * SEARCH 1\nS: s3 OK SEARCH completed\n")
	c.Run("C: s4 SEARCH " + repeat("TEXT fox", 500) + " " + repeat("BODY lazy", 499) + "\nS: * SEARCH 1\nS: s4 OK SEARCH completed\n")
	// One pass over 4 MB takes tens of milliseconds; before, each key made
	// its own pass, 1,000 of them.
	if used := processCPU(t) - start; used > 10*time.Second {
		t.Fatalf("SEARCH with repeated keys took %v of CPU", used)
	}
	c.Run("C: s5 NOOP\nS: s5 OK NOOP completed\n")
}
