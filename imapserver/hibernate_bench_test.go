package imapserver_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// The benchmarks below measure one hibernated connection's round trips
// over real sockets on 127.0.0.1: a full wake and re-hibernation, a
// DONE + IDLE answered asleep, a mailbox change sent in place. Besides
// ns/op (wall time) they report cpu-ns/op, the process's user+system CPU
// time per operation (getrusage), which includes the in-process test
// client. Run them alone:
//
//	go test -run '^$' -bench Hibernat -benchtime 2000x ./imapserver/

// cpuTime returns the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hibernatedGauge reads dormouse_imap_connections{state="hibernated"}.
// It is polled inside the timed loop, whose CPU the benchmarks report, so
// it collects the one metric instead of testserver.Gather's registry.
func hibernatedGauge(m *imapserver.Metrics) float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() {
		for _, c := range m.Collectors() {
			c.Collect(ch)
		}
		close(ch)
	}()
	v := -1.0
	for pm := range ch {
		if !strings.Contains(pm.Desc().String(), `"dormouse_imap_connections"`) {
			continue
		}
		var d dto.Metric
		if pm.Write(&d) != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "state" && l.GetValue() == "hibernated" {
				v = d.GetGauge().GetValue()
			}
		}
	}
	return v
}

// waitHibernated polls the gauge until want connections sleep.
func waitHibernated(b *testing.B, m *imapserver.Metrics, want float64) {
	deadline := time.Now().Add(5 * time.Second)
	for hibernatedGauge(m) != want {
		if time.Now().After(deadline) {
			b.Fatalf("hibernated gauge never reached %v", want)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// benchSleeper starts a server whose INBOX holds size messages and one
// client idling on it (rev2 with CONDSTORE, read-write), asleep unless
// hibernateAfter is 0.
func benchSleeper(b *testing.B, size int, hibernateAfter time.Duration) (*testserver.Server, *testserver.Client) {
	srv := testserver.Start(b, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = hibernateAfter
	}))
	fill(b, srv, "INBOX", size)
	c := srv.Login(b, srv.Alice)
	c.Cmd("e ENABLE IMAP4rev2 CONDSTORE")
	c.Cmd("s SELECT INBOX")
	c.Send("i0 IDLE")
	c.Expect("S: + idling")
	if hibernateAfter > 0 {
		waitHibernated(b, srv.Metrics, 1)
	}
	return srv, c
}

func reportCPU(b *testing.B, start time.Duration) {
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkHibernateFullWake: DONE (answered asleep), then a UID FETCH
// wakes the sleeper fully (the session is restored; a NOOP would be
// answered asleep), IDLE again, hibernated again.
func BenchmarkHibernateFullWake(b *testing.B) {
	for _, size := range []int{100, 2000} {
		b.Run(fmt.Sprintf("messages=%d", size), func(b *testing.B) {
			srv, c := benchSleeper(b, size, time.Millisecond)
			tag := "i0"
			start := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				next := fmt.Sprintf("i%d", i+1)
				c.Write("DONE\r\n")
				c.Expect("S: " + tag + " OK IDLE terminated")
				c.Cmd(fmt.Sprintf("n%d UID FETCH 1 (FLAGS RFC822.SIZE)", i))
				c.Send(next + " IDLE")
				c.Expect("S: + idling")
				waitHibernated(b, srv.Metrics, 1)
				tag = next
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkHibernateReidle: DONE + IDLE in one packet, answered asleep.
func BenchmarkHibernateReidle(b *testing.B) {
	srv, c := benchSleeper(b, 100, time.Millisecond)
	// The filling session may have slept and woken: count from here.
	base := testserver.Gather(b, srv.Metrics)["dormouse_imap_wakes_total,cause=client"]
	tag := "i0"
	start := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		next := fmt.Sprintf("i%d", i+1)
		c.Write("DONE\r\n" + next + " IDLE\r\n")
		c.Expect("S: "+tag+" OK IDLE terminated", "S: + idling")
		tag = next
	}
	reportCPU(b, start)
	if w := testserver.Gather(b, srv.Metrics)["dormouse_imap_wakes_total,cause=client"] - base; w != 0 {
		b.Fatalf("%v full wakes", w)
	}
}

// BenchmarkHibernateUpdate: another session changes a flag; the sleeper
// gets its FETCH in place. The op includes the other session's STORE;
// active=true runs the same with hibernation off, as the baseline.
func BenchmarkHibernateUpdate(b *testing.B) {
	for _, size := range []int{100, 2000} {
		for _, active := range []bool{false, true} {
			b.Run(fmt.Sprintf("messages=%d/active=%v", size, active), func(b *testing.B) {
				after := time.Millisecond
				if active {
					after = 0
				}
				srv, c := benchSleeper(b, size, after)
				changer := srv.Login(b, srv.Alice)
				changer.Cmd("s SELECT INBOX")
				start := cpuTime(b)
				b.ResetTimer()
				for i := range b.N {
					op := "+"
					if i%2 == 1 {
						op = "-"
					}
					changer.Cmd(fmt.Sprintf("t%d STORE 1 %sFLAGS.SILENT (\\Flagged)", i, op))
					if l := c.ReadLine(); !strings.HasPrefix(l, "* 1 FETCH") {
						b.Fatalf("want FETCH, got %q", l)
					}
				}
				reportCPU(b, start)
				got := testserver.Gather(b, srv.Metrics)
				if w := got["dormouse_imap_wakes_total,cause=mailbox"]; w != 0 {
					b.Fatalf("%v full wakes", w)
				}
			})
		}
	}
}
