package imapserver_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// openCounter is the test server's real store, counting the users opened
// through it (Store.User: a handle on the user's index). It embeds the
// store, so every optional capability of it is still there.
type openCounter struct {
	*maildir.Store
	opens atomic.Int64
}

func (s *openCounter) User(ctx context.Context, name string) (mailstore.User, error) {
	s.opens.Add(1)
	return s.Store.User(ctx, name)
}

// countOpens makes a server's config open users through cnt.
func countOpens(c *imapserver.Config, cnt *openCounter) {
	cnt.Store = c.Store.(*maildir.Store)
	c.Store = cnt
}

// thunderbirdRound is one keepalive answer of Thunderbird's INBOX
// connection, tagged with i: DONE of IDLE i-1, NOOP, GETQUOTAROOT,
// UID FETCH <uidnext>:* (FLAGS), IDLE i; with uidnext 3 and message 2
// \Seen in a mailbox of two.
func thunderbirdRound(i int, quota string) string {
	return fmt.Sprintf(`
C: DONE
S: i%d OK IDLE terminated
C: n%d NOOP
S: n%d OK NOOP completed
C: g%d GETQUOTAROOT INBOX
%sS: g%d OK GETQUOTAROOT completed
C: u%d UID FETCH 3:* (FLAGS)
S: * 2 FETCH (UID 2 FLAGS (\Seen))
S: u%d OK UID FETCH completed
C: i%d IDLE
S: + idling
`, i-1, i, i, i, quota, i, i, i, i)
}

// quotaLines is what GETQUOTAROOT INBOX says for alice in keepaliveServer.
const quotaLines = "S: * QUOTAROOT INBOX \"\"\nS: * QUOTA \"\" (STORAGE %d 10240 MESSAGE 2 100)\n"

// keepaliveServer starts a server whose alice has a quota and two
// messages in INBOX (2 \Seen), and one Thunderbird-like INBOX connection
// over tr (plain, implicit or tls+compress) asleep in IDLE (tag i0),
// rev2, so that its FETCH shows no \Recent.
func keepaliveServer(tb testing.TB, cnt *openCounter, tr transport) (*testserver.Server, *testserver.Client, string) {
	opts := []testserver.Option{testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = time.Millisecond
		countOpens(c, cnt)
	}), testserver.WithStoreOptions(func(o *maildir.Options) {
		o.QuotaLimits = func(string) mailstore.QuotaLimits { return mailstore.QuotaLimits{Storage: 10 << 20, Messages: 100} }
	})}
	if tr == transportImplicit || tr == transportTLSCompress {
		opts = append(opts, testserver.WithTLS(true))
	}
	srv := testserver.Start(tb, opts...)
	fillOver(tb, srv, tr, "INBOX", 2)
	c := tr.login(tb, srv, srv.Alice)
	c.Cmd("e ENABLE IMAP4rev2")
	c.Cmd("s SELECT INBOX")
	c.Cmd(`f STORE 2 +FLAGS.SILENT (\Seen)`)
	var kib int
	for _, l := range c.Cmd("q GETQUOTAROOT INBOX") {
		fmt.Sscanf(l, `* QUOTA "" (STORAGE %d`, &kib)
	}
	c.Send("i0 IDLE")
	c.Expect("S: + idling")
	testserver.WaitMetric(tb, srv.Metrics, "dormouse_imap_connections,state=hibernated", 1)
	return srv, c, fmt.Sprintf(quotaLines, kib)
}

// BenchmarkHibernateKeepaliveRound: Thunderbird's answer to a keepalive
// (DONE, NOOP, GETQUOTAROOT, UID FETCH <uidnext>:* (FLAGS), IDLE), each
// command answered asleep, nothing changed in the mailbox. Besides the
// process's allocations per round (the in-process client's included),
// it reports the users the server opened per round (index-opens/op):
// each is a handle on the user's index, and its file opened and mapped
// again when no handle lingers. lingering=true runs the rounds back to
// back (the index stays open between them, as for a busy user);
// lingering=false waits out the store's 1-s linger before each round, as
// in a fleet whose users' keepalive rounds are 30 s or more apart (the
// wait is not timed). tr=tls+compress is the fleet's transport (TLS 1.3
// and COMPRESS DEFLATE: the sleeper's record state and inflater window
// decoded, moved on and stored again with each answer), index lingering.
// Run it alone:
//
//	go test -run '^$' -bench KeepaliveRound ./imapserver/
func BenchmarkHibernateKeepaliveRound(b *testing.B) {
	for _, bc := range []struct {
		name      string
		tr        transport
		lingering bool
	}{
		{"lingering=true", transportPlain, true},
		{"lingering=false", transportPlain, false},
		{"tr=tls+compress", transportTLSCompress, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lingering := bc.lingering
			if !lingering && b.N > 20 {
				b.Skip("rounds 1.2 s apart: run with -benchtime 20x or less")
			}
			var cnt openCounter
			srv, c, quota := keepaliveServer(b, &cnt, bc.tr)
			// A first round, untimed, as the sleeper's first keepalive
			// answers after it fell asleep.
			c.Run(thunderbirdRound(1, quota))
			base := testserver.Gather(b, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
			opens := cnt.opens.Load()
			b.ReportAllocs()
			start := cpuTime(b)
			b.ResetTimer()
			for i := 2; i <= b.N+1; i++ {
				if !lingering {
					b.StopTimer()
					time.Sleep(1200 * time.Millisecond)
					b.StartTimer()
				}
				c.Run(thunderbirdRound(i, quota))
			}
			reportCPU(b, start)
			b.ReportMetric(float64(cnt.opens.Load()-opens)/float64(b.N), "index-opens/op")
			if w := testserver.Gather(b, srv.Metrics)["dormouse_imap_wakes_total,cause=client"] - base; w != 0 {
				b.Fatalf("%v full wakes", w)
			}
		})
	}
}

// TestKeepaliveRoundAllocations bounds what a Thunderbird keepalive round
// answered asleep over TLS 1.3 + COMPRESS (the fleet's transport)
// allocates, process-wide: ~330 objects with the in-process client's
// share, 684 before the TLS keys were derived without crypto/hmac, the
// kept window decoded in a pooled scratch and the blob decoded and
// encoded once per answer; and, with a full window, ~160 KB per round,
// 835 KB before. The bounds leave room for the client and the server's
// background work.
func TestKeepaliveRoundAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("sync.Pool drops pooled buffers under -race")
	}
	var cnt openCounter
	srv, c, quota := keepaliveServer(t, &cnt, transportTLSCompress)
	i := 1
	c.Run(thunderbirdRound(i, quota))
	base := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
	n := testing.AllocsPerRun(20, func() {
		i++
		c.Run(thunderbirdRound(i, quota))
	})
	t.Logf("%v allocations per round", n)
	if w := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"] - base; w != 0 {
		t.Fatalf("%v full wakes", w)
	}
	if n > 500 {
		t.Errorf("a keepalive round answered asleep over TLS 1.3 + COMPRESS: %v allocations, want at most 500", n)
	}
	// Once the client sent 32 KiB, the kept window is full: what an
	// answer allocates must not grow with it (~160 KB per round with
	// the client's share, 835 KB when each answer read the window with
	// io.ReadAll and kept copies of it).
	for range 400 {
		i++
		c.Run(thunderbirdRound(i, quota))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const rounds = 20
	for range rounds {
		i++
		c.Run(thunderbirdRound(i, quota))
	}
	runtime.ReadMemStats(&after)
	perRound := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("%d bytes per round with a full window", perRound)
	if perRound > 400<<10 {
		t.Errorf("a keepalive round with a full window: %d bytes allocated, want at most %d", perRound, 400<<10)
	}
}

// TestKeepaliveAnswersOpenNoIndex: Thunderbird's keepalive answers
// (NOOP, GETQUOTAROOT, UID FETCH <uidnext>:* (FLAGS), the IDLE after
// them), answered asleep, open the user's index only when it or the
// user's folders changed since the last answer: rounds with nothing new
// open nothing. Each answer is what an awake session (w, with nothing
// selected, so that it is woken for GETQUOTAROOT) says at that moment:
// after a flag change by another session, a delivery by another program
// into a folder no one watches (Trash), a quota limit set, an append to
// another mailbox.
func TestKeepaliveAnswersOpenNoIndex(t *testing.T) {
	var cnt openCounter
	srv, c, _ := keepaliveServer(t, &cnt, transportPlain)
	w := srv.Login(t, srv.Alice)
	other := srv.Login(t, srv.Alice)
	other.Cmd("s SELECT INBOX")
	i := 0
	round := func(fetch string) {
		t.Helper()
		i++
		c.Run(fmt.Sprintf(`
C: DONE
S: i%d OK IDLE terminated
C: n%d NOOP
S: n%d OK NOOP completed
`, i-1, i, i))
		got := c.Cmd(fmt.Sprintf("g%d GETQUOTAROOT INBOX", i))
		want := w.Cmd(fmt.Sprintf("g%d GETQUOTAROOT INBOX", i))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("round %d: asleep GETQUOTAROOT %q, awake %q", i, got, want)
		}
		c.Run(fmt.Sprintf(`
C: u%d UID FETCH 3:* (FLAGS)
S: * 2 FETCH (UID 2 FLAGS (%s))
S: u%d OK UID FETCH completed
C: i%d IDLE
S: + idling
`, i, fetch, i, i))
		testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 3)
	}
	testserver.WaitMetric(t, srv.Metrics, "dormouse_imap_connections,state=hibernated", 3)
	base := testserver.Gather(t, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
	round(`\Seen`)
	before := cnt.opens.Load()
	round(`\Seen`)
	round(`\Seen`)
	t.Logf("opens in two rounds: %d", cnt.opens.Load()-before)
	// One open a round is w's (its wake restores its session): the
	// sleeper's four answers open nothing.
	if n := cnt.opens.Load() - before; n > 2 {
		t.Errorf("two rounds with nothing changed opened %d users, want 2 (w's own)", n)
	}

	other.Cmd(`f STORE 2 +FLAGS.SILENT (\Flagged)`)
	c.Expect(`S: * 2 FETCH (UID 2 FLAGS (\Flagged \Seen))`)
	round(`\Flagged \Seen`)
	srv.DeliverTo(t, "alice", "Trash", testMessage(9))
	round(`\Flagged \Seen`)
	u, err := srv.Store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.(mailstore.QuotaUser).SetQuotaLimits(context.Background(), &mailstore.QuotaLimits{Storage: 1 << 30, Messages: 7}); err != nil {
		t.Fatal(err)
	}
	u.Close()
	round(`\Flagged \Seen`)
	appendMsg(t, other, "Sent", "", testMessage(10))
	round(`\Flagged \Seen`)
	// Wakes: w's seven GETQUOTAROOTs, other's STORE and APPEND; none
	// of the sleeper's.
	got := testserver.Gather(t, srv.Metrics)
	if w, q := got["dormouse_imap_wakes_total,cause=client"]-base, got["dormouse_imap_wake_commands_total,command=GETQUOTAROOT"]; w != 9 || q != 7 {
		t.Errorf("client wakes %v, by GETQUOTAROOT %v; want 9 and 7 (w's and other's alone)", w, q)
	}
}
