package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/mailstore"
)

// The admin socket: `dormouse who` and `dormouse kick USER` ask the
// running server over a UNIX socket in the data folder, mode 0600, so only
// the user the server runs as (and root) can use it. One request per
// connection: a line "who" or "kick USER", answered by one JSON object.

// adminSocketName is the admin socket's name in the data folder.
const adminSocketName = "admin.sock"

// adminTimeout bounds one request on the admin socket.
const adminTimeout = 10 * time.Second

// adminReply is the answer to one admin request.
type adminReply struct {
	Error    string               `json:"error,omitempty"`
	Sessions []imapserver.Session `json:"sessions,omitempty"`
	Kicked   int                  `json:"kicked"`
	Waking   int                  `json:"waking"`
	// Quota answers "quota USER" (quota.go).
	Quota *mailstore.Quota `json:"quota,omitempty"`
}

// errNoServer says no server answers on the data folder's admin socket.
var errNoServer = errors.New("no server running")

// errAdminPathTooLong says the data folder's path is too long for a UNIX
// socket in it: the server runs without who and kick.
var errAdminPathTooLong = errors.New("path longer than a UNIX socket allows (107 bytes): `dormouse who` and `kick` need a shorter data folder path")

// adminServer serves the admin socket.
type adminServer struct {
	ln    net.Listener
	path  string
	imap  *imapserver.Server
	store mailstore.Store
	log   *slog.Logger
	wg    sync.WaitGroup
	once  sync.Once
}

// listenAdmin opens the admin socket at path. A socket left by a server
// that died is replaced; one a live server answers on is an error (two
// servers on one data folder).
func listenAdmin(path string, imap *imapserver.Server, store mailstore.Store, log *slog.Logger) (*adminServer, error) {
	if len(path) >= 108 { // sun_path
		return nil, fmt.Errorf("admin socket %s: %w", path, errAdminPathTooLong)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: another dormouse serves this data folder (to upgrade it, start the new one with --takeover)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// The data folder is 0700 already; the socket itself says so too.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	a := &adminServer{ln: ln, path: path, imap: imap, store: store, log: log}
	a.wg.Add(1)
	go a.serve()
	return a, nil
}

func (a *adminServer) serve() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.log.Error("admin socket", "err", err)
			}
			return
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(adminTimeout))
			line, err := bufio.NewReader(io.LimitReader(c, 1024)).ReadString('\n')
			if err != nil {
				return
			}
			json.NewEncoder(c).Encode(a.answer(strings.TrimSpace(line)))
		}()
	}
}

// answer carries out one request.
func (a *adminServer) answer(req string) adminReply {
	verb, arg, _ := strings.Cut(req, " ")
	switch {
	case verb == "who" && arg == "":
		return adminReply{Sessions: a.imap.Sessions()}
	case verb == "quota" && arg != "":
		q, err := userQuota(a.store, arg)
		if err != nil {
			return adminReply{Error: err.Error()}
		}
		return adminReply{Quota: &q}
	case verb == "kick" && arg != "":
		kicked, waking := a.imap.Kick(arg)
		a.log.Info("admin kick", "user", arg, "kicked", kicked, "waking", waking)
		return adminReply{Kicked: kicked, Waking: waking}
	default:
		return adminReply{Error: fmt.Sprintf("unknown request %q: want \"who\", \"kick USER\" or \"quota USER\"", req)}
	}
}

// close stops serving and removes the socket; it may be called again, and
// on nil (no admin socket).
func (a *adminServer) close() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		a.ln.Close() // removes the socket file too (net.UnixListener unlinks on Close)
		a.wg.Wait()
	})
}

// adminRequest sends req to the server of the data folder and returns its
// reply.
func adminRequest(data, req string) (adminReply, error) {
	path := filepath.Join(data, adminSocketName)
	c, err := net.DialTimeout("unix", path, adminTimeout)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return adminReply{}, withCode(exitTempFail, fmt.Errorf("%w on %s (no admin socket %s)", errNoServer, data, path))
		}
		return adminReply{}, withCode(exitTempFail, fmt.Errorf("admin socket: %w", err))
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(adminTimeout))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		return adminReply{}, withCode(exitTempFail, fmt.Errorf("admin socket: %w", err))
	}
	var r adminReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return adminReply{}, withCode(exitTempFail, fmt.Errorf("admin socket: %w", err))
	}
	if r.Error != "" {
		return r, withCode(exitSoftware, errors.New(r.Error))
	}
	return r, nil
}

// adminFlags parses the flags `who` and `kick` share and returns the data
// folder and the positional arguments.
func adminFlags(name string, args []string, stderr io.Writer) (string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", nil, withCode(exitUsage, err)
	}
	_, l, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return "", nil, err
	}
	return l.data, pos, nil
}

// cmdWho lists the connections of the running server.
func cmdWho(args []string, stdout, stderr io.Writer) error {
	data, pos, err := adminFlags("who", args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q", pos[0])
	}
	r, err := adminRequest(data, "who")
	if err != nil {
		return err
	}
	now := time.Now()
	asleep := 0
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATE\tMAILBOX\tREMOTE\tSINCE")
	for _, s := range r.Sessions {
		user, state := s.User, "awake"
		if user == "" {
			user = "-"
		}
		if s.Asleep {
			state = "asleep"
			asleep++
		}
		mailbox := s.Mailbox
		if mailbox == "" {
			mailbox = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\n", user, state, mailbox, s.Remote,
			s.Since.UTC().Format(time.RFC3339), now.Sub(s.Since).Round(time.Second))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d connections: %d awake, %d asleep\n", len(r.Sessions), len(r.Sessions)-asleep, asleep)
	return nil
}

// cmdKick disconnects every connection of one user.
func cmdKick(args []string, stdout, stderr io.Writer) error {
	data, pos, err := adminFlags("kick", args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 || strings.ContainsAny(pos[0], " \r\n") {
		return usageErr("usage: dormouse kick [--data DIR] USER")
	}
	r, err := adminRequest(data, "kick "+pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d connections ended\n", pos[0], r.Kicked)
	if r.Waking > 0 {
		fmt.Fprintf(stdout, "%d more were waking up at that moment: run the command again\n", r.Waking)
	}
	return nil
}
