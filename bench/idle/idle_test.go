package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
	"github.com/dormouse/dormouse/lmtp"
)

// bench starts a hibernating test server with metrics and LMTP, and
// returns a config aimed at it for the user alice. The test process is
// the server, so -server-pid is our own pid.
func bench(t *testing.T) (*config, *testserver.Server) {
	t.Helper()
	s := testserver.Start(t, testserver.WithConfig(func(c *imapserver.Config) {
		c.HibernateAfter = 50 * time.Millisecond
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(s.Metrics.Collectors()...)
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(hs.Close)

	users, err := auth.Open(s.PasswdFile)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := lmtp.New(lmtp.Config{Store: s.Store, Users: users, Logger: slog.New(slog.DiscardHandler), SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ls.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ls.Shutdown(ctx)
	})

	c, err := parseFlags(newFlagSet(), []string{
		"-addr", s.Addr, "-user-fmt", s.Alice.Name, "-password", s.Alice.Password,
		"-server-pid", itoa(os.Getpid()), "-metrics", hs.URL + "/metrics",
		"-maildir-fmt", filepath.Join(s.DataDir, "users", "%s", "Maildir"),
		"-settle", "300ms", "-wake-timeout", "5s", "-delivery-gap", "0s", "-idle-cpu-window", "200ms",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.LMTP = ln.Addr().String() // kept aside; cases choose
	return &c, s
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *config)
		check func(t *testing.T, r *results)
	}{{
		name: "memory and wakes by rename",
		setup: func(c *config) {
			c.N, c.PerUser, c.Deliveries, c.LMTP = 6, 6, 3, ""
		},
		check: func(t *testing.T, r *results) {
			if r.Wake == nil || r.Wake.Method != "rename" || r.Wake.First.N != 3 || r.Wake.All.N != 18 || r.Wake.All.Timeouts != 0 {
				t.Errorf("wake = %+v, want 3 first-conn and 18 all-conn samples, no timeouts", r.Wake)
			}
		},
	}, {
		name: "wakes by LMTP",
		setup: func(c *config) {
			c.N, c.PerUser, c.Deliveries = 3, 3, 2
		},
		check: func(t *testing.T, r *results) {
			if r.Wake == nil || r.Wake.Method != "lmtp" || r.Wake.First.N != 2 || r.Wake.All.N != 6 || r.Wake.Failed != 0 {
				t.Errorf("wake = %+v, want 2 and 6 samples, no failures", r.Wake)
			}
		},
	}, {
		name: "fan-out",
		setup: func(c *config) {
			c.N, c.Fanout, c.Repeats, c.LMTP = 5, true, 2, ""
		},
		check: func(t *testing.T, r *results) {
			if r.Fanout == nil || len(r.Fanout.Runs) != 2 {
				t.Fatalf("fanout = %+v, want 2 runs", r.Fanout)
			}
			for i, run := range r.Fanout.Runs {
				if run.Got != 5 || run.Hibernated == nil || *run.Hibernated != 5 {
					t.Errorf("run %d = %+v, want all 5 hibernated before and all 5 woken", i, run)
				}
			}
		},
	}, {
		name: "memory of the second half",
		setup: func(c *config) {
			c.N, c.PerUser, c.Halfway, c.LMTP = 8, 2, true, ""
		},
		check: func(t *testing.T, r *results) {
			if r.Halfway == nil || r.SecondHalf == nil || r.SecondHalf.N != 4 {
				t.Fatalf("halfway = %v, second half = %+v, want a snapshot and 4 connections", r.Halfway, r.SecondHalf)
			}
			if h := r.Halfway.Metrics.Hibernated; h == nil || *h != 4 {
				t.Errorf("hibernated at halfway = %v, want 4", h)
			}
			if r.SecondHalf.PssBytes == nil || r.SecondHalf.HeapInuse == nil {
				t.Errorf("second-half memory missing: %+v", r.SecondHalf)
			}
			var out strings.Builder
			r.printTable(&out)
			if !strings.Contains(out.String(), "2nd half/conn") || !strings.Contains(out.String(), "GC metadata") {
				t.Errorf("table lacks the second half or the runtime rows:\n%s", out.String())
			}
		},
	}, {
		name: "paced ramp",
		setup: func(c *config) {
			c.N, c.PerUser, c.Rate, c.LMTP = 4, 2, 20, ""
		},
		check: func(t *testing.T, r *results) {
			// The fourth connection may start 3/20 s after the first.
			if r.Ramp.Seconds < 0.15 {
				t.Errorf("ramp took %.3f s, want at least 0.15 s at 20 connections a second", r.Ramp.Seconds)
			}
		},
	}, {
		name: "quiet sessions",
		setup: func(c *config) {
			c.N, c.PerUser, c.Quiet, c.LMTP = 4, 2, true, ""
		},
		check: func(t *testing.T, r *results) {
			if i := r.Idle.Metrics.Idling; i == nil || *i != 0 {
				t.Errorf("idling = %v, want 0: quiet sessions send no IDLE", i)
			}
		},
	}, {
		name: "live search contexts",
		setup: func(c *config) {
			c.N, c.PerUser, c.Quiet, c.LMTP = 4, 2, true, ""
			c.AfterSel = "UID SEARCH RETURN (UPDATE COUNT) UNDELETED"
		},
		check: func(t *testing.T, r *results) {
			if h := r.Idle.Metrics.Hibernated; h == nil || *h != 4 {
				t.Errorf("hibernated = %v, want 4: sessions with a live context sleep", h)
			}
		},
	}, {
		name: "keepalive cycles answered asleep",
		setup: func(c *config) {
			c.N, c.PerUser, c.Cycles = 3, 3, 2
		},
		check: func(t *testing.T, r *results) {
			cy := r.Cycles
			if cy == nil || cy.Cycles != 6 || cy.Errors != 0 || cy.Hibernations == nil || *cy.Hibernations != 0 {
				t.Errorf("cycles = %+v, want 6 cycles and no new hibernation (DONE, NOOP, IDLE answered asleep)", cy)
			}
		},
	}, {
		name: "hibernate-and-wake cycles",
		setup: func(c *config) {
			c.N, c.PerUser, c.Cycles, c.CycleCmd = 3, 3, 2, "UID FETCH 1 (FLAGS RFC822.SIZE)"
		},
		check: func(t *testing.T, r *results) {
			cy := r.Cycles
			if cy == nil || cy.Cycles != 6 || cy.Errors != 0 || cy.Hibernations == nil || *cy.Hibernations != 6 {
				t.Errorf("cycles = %+v, want 6 cycles and 6 hibernations", cy)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := bench(t)
			tt.setup(c)
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			r, err := run(t.Context(), c, nil, log, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ramp.Open != c.N || r.Ramp.Errors != 0 {
				t.Fatalf("ramp = %+v, want %d open", r.Ramp, c.N)
			}
			if h := r.Idle.Metrics.Hibernated; h == nil || *h != float64(c.N) {
				t.Errorf("hibernated after settle = %v, want %d", h, c.N)
			}
			if r.PerConn.HeapInuse == nil || r.PerConn.PssBytes == nil {
				t.Errorf("per-connection memory missing: %+v", r.PerConn)
			}
			if r.ClosedByServer != 0 {
				t.Errorf("%d connections closed by the server", r.ClosedByServer)
			}
			tt.check(t, r)
		})
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		users   int
	}{
		{[]string{"-n", "10", "-per-user", "3"}, false, 4},
		{[]string{"-n", "10", "-fanout", "-lmtp", "x:1"}, false, 1},
		{[]string{"-n", "10", "-per-user", "5", "-users", "1"}, true, 0},
		{[]string{"-n", "0"}, true, 0},
		{[]string{"-n", "10", "-rate", "-1"}, true, 0},
		{[]string{"-deliveries", "5"}, true, 0},
		{[]string{"-quiet", "-cycles", "1"}, true, 0},
		{[]string{"-n", "10", "-quiet"}, false, 2},
		{[]string{"-deliveries", "5", "-maildir-fmt", "/x/Maildir"}, true, 0},
		{[]string{"-deliveries", "5", "-maildir-fmt", "/x/%s/Maildir"}, false, 200},
	}
	for _, tt := range tests {
		c, err := parseFlags(newFlagSet(), tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err == nil && c.Users != tt.users {
			t.Errorf("%v: users = %d, want %d", tt.args, c.Users, tt.users)
		}
	}
}

func TestIsExists(t *testing.T) {
	for l, want := range map[string]bool{
		"* 12 EXISTS": true, "* 0 exists": true, "* 12 RECENT": false,
		"* OK Still here": false, "* x EXISTS": false, "a1 12 EXISTS": false,
	} {
		if got := isExists(l); got != want {
			t.Errorf("isExists(%q) = %v, want %v", l, got, want)
		}
	}
}

// TestCompressedSessions runs the tool with -compress: every connection
// turns on COMPRESS=DEFLATE, sleeps compressed (counted by transport on
// the server) and goes through a keepalive cycle compressed.
func TestCompressedSessions(t *testing.T) {
	c, s := bench(t)
	c.N, c.PerUser, c.Compress, c.Cycles, c.LMTP = 4, 2, true, 1, ""
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	r, err := run(t.Context(), c, nil, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ramp.Open != c.N || r.Ramp.Errors != 0 || r.ClosedByServer != 0 {
		t.Fatalf("ramp = %+v, closed by the server %d, want %d open", r.Ramp, r.ClosedByServer, c.N)
	}
	if cy := r.Cycles; cy == nil || cy.Cycles != 4 || cy.Errors != 0 {
		t.Errorf("cycles = %+v, want 4 without errors", cy)
	}
	got := testserver.Gather(t, s.Metrics)
	if n := got["dormouse_imap_hibernations_by_transport_total,transport=compressed"]; n < float64(c.N) {
		t.Errorf("compressed hibernations = %v, want ≥ %d", n, c.N)
	}
	if n := got["dormouse_imap_commands_total,command=COMPRESS,result=ok"]; n != float64(c.N) {
		t.Errorf("COMPRESS ok = %v, want %d", n, c.N)
	}
}
