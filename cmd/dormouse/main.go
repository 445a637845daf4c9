// Command dormouse is the Dormouse IMAP server: one binary that serves IMAP,
// IMAPS and LMTP, manages users and delivers mail.
//
// Usage:
//
//	dormouse serve [--data DIR] [--config FILE] [--imap ADDR] [--imaps ADDR]
//	               [--lmtp ADDR] [--metrics ADDR] [--hibernate-after DURATION]
//	               [--log-format text|json]
//	dormouse proxy [--data DIR] [--config FILE] [--imap ADDR] [--imaps ADDR]
//	               [--metrics ADDR] [--backends ADDR,...] [--nats URL]
//	dormouse user add|del|passwd|list [--data DIR] [NAME]
//	dormouse deliver [--data DIR] [--mailbox NAME] USER < message
//	dormouse who [--data DIR]
//	dormouse kick [--data DIR] USER
//	dormouse notice [--data DIR] [--file new/NAME] USER [MAILBOX]
//	dormouse cluster move|where|forget [--data DIR] USER [BACKEND]
//
// On its first start, serve creates the data folder with a commented
// configuration file, a private CA and a certificate for localhost, and a
// user "demo" whose password it prints once.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes from sysexits.h, which MTAs read from an MDA such as
// `dormouse deliver`.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 64 // EX_USAGE
	exitNoUser      = 67 // EX_NOUSER
	exitSoftware    = 70 // EX_SOFTWARE
	exitCantCreate  = 73 // EX_CANTCREAT
	exitIOErr       = 74 // EX_IOERR
	exitTempFail    = 75 // EX_TEMPFAIL
	exitConfigError = 78 // EX_CONFIG
)

const usage = `Dormouse, an IMAP server.

Usage:
  dormouse serve [flags]                      run the server (see dormouse serve -h)
  dormouse proxy [flags]                      run the IMAP proxy in front of backends (see dormouse proxy -h)
  dormouse user add|del|passwd|list [--data DIR] [NAME]
                                              manage users; passwords come from stdin
  dormouse deliver [--data DIR] [--mailbox NAME] USER
                                              deliver one message from stdin (an MDA)
  dormouse who [--data DIR]                   list the running server's connections, awake or asleep
  dormouse kick [--data DIR] USER             disconnect every connection of USER
  dormouse notice [--data DIR] [--file new/NAME] USER [MAILBOX]
                                              tell the running server that a program changed MAILBOX
  dormouse cluster move|where|forget [--data DIR] USER [BACKEND]
                                              the user -> backend map in NATS KV ([cluster] nats)
`

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usageErr(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stdout, stderr)
	case "proxy":
		err = cmdProxy(args[1:], stderr)
	case "user":
		err = cmdUser(args[1:], stdin, stdout, stderr)
	case "deliver":
		err = cmdDeliver(args[1:], stdin, stderr)
	case "who":
		err = cmdWho(args[1:], stdout, stderr)
	case "kick":
		err = cmdKick(args[1:], stdout, stderr)
	case "notice":
		err = cmdNotice(args[1:], stderr)
	case "cluster":
		err = cmdCluster(args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "dormouse %s: %v\n", args[0], err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("user add NAME --data DIR" as well as "user add --data DIR
// NAME"), which the flag package alone does not allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
