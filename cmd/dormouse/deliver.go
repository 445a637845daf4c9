package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/lmtp"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/mailstore/maildir"
	"github.com/dormouse/dormouse/notice"
)

const exitDataErr = 65 // EX_DATAERR

// cmdDeliver is an MDA: it stores one message from stdin for a user, the
// way Postfix's mailbox_command or a .forward pipe expects, and says how it
// went with a sysexits.h code.
//
// The message is written into the mailbox's Maildir new/ folder (tmp/,
// fsync, rename, fsync of the folder), as any Maildir MDA does, rather
// than through the index: a running server holds the user's index open
// and picks the file up at once through its folder watch, giving it its
// UID and waking IDLE clients; a stopped one finds it on its next rescan.
// Either way the message is durable when deliver exits 0.
//
// USER is resolved as an LMTP recipient is (lmtp.Resolve): names compare
// case-insensitively, and with lmtp.recipient_delimiter "alice+Spam"
// reaches alice, into the mailbox Spam when lmtp.save_to_detail_mailbox
// is on, it exists and -mailbox is not given. A message larger than
// limits.max_literal, the cap of IMAP APPEND and LMTP, is refused with
// EX_DATAERR.
func cmdDeliver(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	mailbox := fs.String("mailbox", "INBOX", "mailbox to deliver into (INBOX when it does not exist)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if len(pos) != 1 {
		return usageErr("deliver takes one USER")
	}
	cfg, l, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return err
	}
	pf, err := auth.Open(l.passwd)
	if err != nil {
		return withCode(exitTempFail, err)
	}
	rcpt, ok, err := lmtp.Resolve(pf, pos[0], cfg.LMTP.RecipientDelimiter)
	if err != nil {
		return withCode(exitTempFail, err)
	}
	if !ok {
		return withCode(exitNoUser, fmt.Errorf("no user %q", pos[0]))
	}
	user := rcpt.User
	mailboxSet := false
	fs.Visit(func(f *flag.Flag) { mailboxSet = mailboxSet || f.Name == "mailbox" })
	if !mailboxSet && cfg.LMTP.SaveToDetailMailbox && rcpt.Detail != "" {
		*mailbox = rcpt.Detail
	}
	md := filepath.Join(l.mail, "users", user, "Maildir")
	if _, err := os.Stat(md); errors.Is(err, os.ErrNotExist) {
		if err := createUserMail(l.mail, user); err != nil {
			return withCode(exitTempFail, err)
		}
	}
	dir := md // INBOX, and where a message for a missing mailbox goes
	if folder, err := maildir.FolderName(*mailbox); err == nil && folder != "" {
		if _, err := os.Stat(filepath.Join(md, folder, "new")); err == nil {
			dir = filepath.Join(md, folder)
		}
	}
	into := mailstore.CanonicalName(*mailbox)
	if dir == md {
		if !mailstore.IsInbox(*mailbox) {
			fmt.Fprintf(stderr, "dormouse deliver: mailbox %q not found, delivering to INBOX\n", *mailbox)
		}
		into = mailstore.Inbox
	}
	q, err := deliverQuota(cfg, l, pf, user)
	if err != nil {
		return withCode(exitTempFail, fmt.Errorf("read quota of %s: %w", user, err))
	}
	check := func(size int64) error { return checkDeliverQuota(q, size) }
	name, err := dropMessage(dir, stdin, cfg.Limits.MaxLiteral, check)
	if err != nil {
		return err
	}
	// The message is delivered: tell a running server, which may not
	// watch the folder (inotify off, or a user asleep at a proxy). No
	// server, no harm: it rescans when it opens the mailbox.
	_ = notice.SendHint(filepath.Join(l.data, notice.HintSocketName), notice.Hint{User: user, Mailbox: into, Folder: "new", Name: name})
	return nil
}

// createUserMail lets the store make a new user's Maildir with its default
// mailboxes.
func createUserMail(root, user string) error {
	st, err := maildir.Open(root, maildir.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := st.User(ctx, user)
	if err != nil {
		return err
	}
	return u.Close()
}

// dropMessage writes stdin, at most max bytes, into dir/tmp, fsyncs it and
// renames it into dir/new once check accepts its size (RFC822.SIZE). It
// returns the file's name.
func dropMessage(dir string, r io.Reader, max int64, check func(size int64) error) (string, error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	host = strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(host)
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ1.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), host)
	tmpPath := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", withCode(exitCantCreate, fmt.Errorf("create message file: %w", err))
	}
	cw := maildir.NewSizeCounter(f)
	n, err := io.Copy(cw, io.LimitReader(r, max+1))
	if err == nil && (n == 0 || n > max) {
		f.Close()
		os.Remove(tmpPath)
		if n == 0 {
			return "", withCode(exitDataErr, errors.New("empty message on stdin"))
		}
		return "", withCode(exitDataErr, fmt.Errorf("message larger than %d bytes (limits.max_literal)", max))
	}
	if err == nil {
		if qerr := check(cw.Size()); qerr != nil {
			f.Close()
			os.Remove(tmpPath)
			return "", qerr
		}
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmpPath)
		return "", withCode(ioExit(err), fmt.Errorf("write message: %w", err))
	}
	if err := os.Rename(tmpPath, filepath.Join(dir, "new", name)); err != nil {
		os.Remove(tmpPath)
		return "", withCode(ioExit(err), fmt.Errorf("move message into new/: %w", err))
	}
	d, err := os.Open(filepath.Join(dir, "new"))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return "", withCode(exitTempFail, fmt.Errorf("sync new/: %w", err))
	}
	return name, nil
}

// ioExit tells a full disk or quota (worth a retry by the MTA) from other
// I/O errors.
func ioExit(err error) int {
	var pe *os.PathError
	if errors.As(err, &pe) && isNoSpace(pe.Err) {
		return exitTempFail
	}
	return exitIOErr
}
