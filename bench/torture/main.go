// Command torture loads a real Dormouse server with clients doing random
// APPEND, STORE, COPY, MOVE, EXPUNGE, FETCH, SEARCH and IDLE on shared
// mailboxes while LMTP deliveries arrive and idle connections hibernate
// and wake, optionally SIGKILLing the server mid-load and restarting it.
// At checkpoints (every -phase, with the clients quiet) and at the end it
// checks that every acknowledged message is stored exactly where the
// acknowledged operations put it, that each client's view (UIDs, flags,
// counts, built from untagged responses) matches a fresh session's, that
// no UID is reused and that no MODSEQ goes back. Throughout the load it
// checks each session against what it was told: a message \Recent in at
// most one session, SEARCH by sequence number (flags, keywords, \Recent,
// header and date keys) answering what the session's own view holds, and
// FETCH by sequence number answering every message the session still
// has, also those another session expunged that it has not been told of.
// It prints the operations done, the faults injected and the violations,
// and exits 1 on any violation.
//
//	go run ./bench/torture -duration 60s -clients 8 -kill
//	go run ./bench/torture -duration 10m -phase 30s -clients 20 -one-inbox
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to run the load (rounded up to whole phases)")
	flag.DurationVar(&cfg.phase, "phase", 5*time.Second, "load between checkpoints")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent IMAP clients")
	flag.BoolVar(&cfg.kill, "kill", false, "SIGKILL the server once in each phase and restart it")
	flag.DurationVar(&cfg.hibernateAfter, "hibernate-after", 50*time.Millisecond, "the server's --hibernate-after")
	flag.DurationVar(&cfg.deliverEvery, "deliver-every", 20*time.Millisecond, "pause between LMTP deliveries")
	flag.Uint64Var(&cfg.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.StringVar(&cfg.bin, "bin", "", "dormouse binary (default: build cmd/dormouse)")
	flag.StringVar(&cfg.data, "data", "", "data folder (default: a new temporary one, removed at the end)")
	flag.BoolVar(&cfg.oneInbox, "one-inbox", false, "every client is a persistent session of INBOX (it still copies, moves and appends to the others)")
	flag.IntVar(&cfg.portBase, "ports", 0, "listen on 127.0.0.1 ports N (IMAP), N+1 (LMTP) and N+2 (metrics) instead of free ones")
	flag.Parse()
	res, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture:", err)
		os.Exit(2)
	}
	res.print(os.Stdout)
	if len(res.violations) > 0 {
		os.Exit(1)
	}
}

// config is one run's settings.
type config struct {
	duration, phase, hibernateAfter, deliverEvery time.Duration
	clients                                       int
	kill, oneInbox                                bool
	portBase                                      int
	seed                                          uint64
	bin, data                                     string
}

// result is what a run did and found.
type result struct {
	seed        uint64
	elapsed     time.Duration
	ops         map[string]int
	faults      int
	checkpoints int
	// hibernations and wakes are the server's own counts, summed over
	// its restarts.
	hibernations, wakes float64
	violations          []string
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "torture: seed %d, %v\n", r.seed, r.elapsed.Round(time.Millisecond))
	kinds := make([]string, 0, len(r.ops))
	total := 0
	for k, n := range r.ops {
		kinds = append(kinds, k)
		if k != "LMTP" && !isRefused(k) {
			total += n
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-16s %7d\n", k, r.ops[k])
	}
	fmt.Fprintf(w, "operations: %d IMAP + %d LMTP deliveries\n", total, r.ops["LMTP"])
	fmt.Fprintf(w, "hibernations: %.0f, wakes: %.0f\n", r.hibernations, r.wakes)
	fmt.Fprintf(w, "faults injected: %d SIGKILL\n", r.faults)
	fmt.Fprintf(w, "checkpoints: %d\n", r.checkpoints)
	fmt.Fprintf(w, "violations: %d\n", len(r.violations))
	if len(r.violations) > 0 {
		kinds := map[string]int{}
		for _, v := range r.violations {
			kinds[violationKind(v)]++
		}
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			fmt.Fprintf(w, "  %-40s %5d\n", k+":", kinds[k])
		}
	}
	for i, v := range r.violations {
		if i == 30 {
			fmt.Fprintf(w, "  ... and %d more\n", len(r.violations)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}

// violationKind names the invariant a violation broke, for the summary.
func violationKind(v string) string {
	for _, k := range []struct{ substr, kind string }{
		{"multiple sessions", `\Recent in two sessions`},
		{"lost its", `\Recent lost in its session`},
		{"inconsistent with the session's view", "SEARCH against the session's view"},
		{"which the session still has", "FETCH against the session's view"},
		{"differs from the store", "session's view against the store"},
	} {
		if strings.Contains(v, k.substr) {
			return k.kind
		}
	}
	return "store against the acknowledged operations"
}

func isRefused(kind string) bool { return len(kind) > 8 && kind[len(kind)-8:] == " refused" }
