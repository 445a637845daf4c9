// Command hostile measures how a Dormouse server stands up to hostile
// clients. It runs the dormouse binary as a child process with
// its own data folder and users, on 127.0.0.1, and reads the server's
// descriptors, memory and CPU time from /proc.
//
//	hostile repro -bin ./dormouse [-only 1,3] [-json out.json]
//
// runs each finding's reproduction once, each on a fresh server, and prints
// a markdown table with the measure the issue asks for.
//
//	hostile soak -bin ./dormouse -duration 30m [-hostile=false] [-baseline base.json] [-json out.json]
//
// runs well-behaved clients (logins, SELECT, IDLE with hibernation, LMTP
// deliveries that wake them, FETCH, SEARCH, STORE, APPEND) with hostile
// ones cycling through the reproductions at a bounded rate, reports every
// -every, and at the end checks the pass criteria.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile repro|soak [flags] (-h for the flags)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	switch os.Args[1] {
	case "repro":
		code = mainRepro(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case "soak":
		code = mainSoak(ctx, os.Args[2:], os.Stdout, os.Stderr)
	default:
		fmt.Fprintf(os.Stderr, "hostile: unknown mode %q: want repro or soak\n", os.Args[1])
		code = 2
	}
	os.Exit(code)
}

// commonFlags are the flags both modes take.
type commonFlags struct {
	bin, dir, jsonOut string
	portBase          int
	keep              bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.bin, "bin", "", "dormouse binary (default: build cmd/dormouse from the current module)")
	fs.StringVar(&c.dir, "dir", "", "folder for the data folders (default: a new temporary one, removed at the end unless -keep)")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.IntVar(&c.portBase, "ports", 0, "first of 4 consecutive ports for IMAP, IMAPS, LMTP, metrics (0 = free ports)")
	fs.BoolVar(&c.keep, "keep", false, "keep the data folders and server logs")
}

// prepare makes the work folder and the binary; cleanup removes what it made.
func (c *commonFlags) prepare() (cleanup func(), err error) {
	made := false
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "dormouse-hostile-"); err != nil {
			return nil, err
		}
		made = true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	cleanup = func() {
		if made && !c.keep {
			os.RemoveAll(c.dir)
		}
	}
	if c.bin == "" {
		if c.bin, err = buildDormouse(c.dir); err != nil {
			cleanup()
			return nil, err
		}
	}
	if c.bin, err = filepath.Abs(c.bin); err != nil {
		cleanup()
		return nil, err
	}
	return cleanup, nil
}

// buildDormouse builds cmd/dormouse into dir.
func buildDormouse(dir string) (string, error) {
	bin := filepath.Join(dir, "dormouse")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dormouse/dormouse/cmd/dormouse").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

func mainRepro(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("repro", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	cfg := reproConfig{}
	only := fs.String("only", "", "comma-separated finding numbers to run (default all 9)")
	fs.DurationVar(&cfg.server.loginTimeout, "login-timeout", 10*time.Second, "the server's limits.login_timeout (0 = its default, 60 s)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "bound on one command's round trip")
	fs.DurationVar(&cfg.cpuWait, "cpu-wait", 20*time.Second, "how long a CPU probe (3, 5) waits for its answer, and then watches the CPU after disconnecting")
	fs.IntVar(&cfg.flood, "flood", 2000, "silent IMAPS connections (1)")
	fs.IntVar(&cfg.preauthConns, "preauth-conns", 8, "connections sending an unauthenticated APPEND {n+} (2)")
	fs.IntVar(&cfg.preauthMiB, "preauth-mib", 16, "size of each unauthenticated literal in MiB (2)")
	fs.IntVar(&cfg.envMsgs, "env-msgs", 64, "messages with a huge To: header (4)")
	fs.IntVar(&cfg.envBytes, "env-bytes", 1_000_000, "size of each To: header (4)")
	fs.IntVar(&cfg.searchKeys, "search-keys", 5400, "copies of BODY zqzqzq in one SEARCH (5; 5400 fit in a 64 KiB line)")
	fs.IntVar(&cfg.searchBytes, "search-bytes", 10_000_000, "size of the searched message (5)")
	fs.IntVar(&cfg.guesses, "guesses", 20, "wrong passwords for the user (8)")
	fs.IntVar(&cfg.madeUp, "made-up", 40, "made-up user names (8)")
	fs.DurationVar(&cfg.guessWait, "guess-wait", 70*time.Second, "how long to wait for the right password to log in again (8)")
	fs.IntVar(&cfg.rcpts, "rcpts", 1000, "times one LMTP transaction names the same recipient (9)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.only, err = parseOnly(*only); err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 2
	}
	cleanup, err := cf.prepare()
	if err != nil {
		fmt.Fprintln(stderr, "hostile:", err)
		return 2
	}
	defer cleanup()
	cfg.dir = cf.dir
	cfg.server.bin, cfg.server.portBase = cf.bin, cf.portBase
	cfg.server.hibernateAfter = 30 * time.Second
	t0 := time.Now().UTC()
	rows := runRepro(ctx, &cfg, stderr)
	fmt.Fprintf(stdout, "hostile repro: %s, %s, started %s, took %s\n\n", cf.bin, hostInfo(), t0.Format("2006-01-02 15:04 UTC"), time.Since(t0).Round(time.Second))
	printTable(stdout, rows)
	if cf.jsonOut != "" {
		if err := writeJSON(cf.jsonOut, map[string]any{"started": t0, "bin": cf.bin, "rows": rows}); err != nil {
			fmt.Fprintln(stderr, "hostile:", err)
			return 1
		}
	}
	for _, r := range rows {
		if r.Err != "" {
			return 1
		}
	}
	return 0
}
