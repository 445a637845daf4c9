package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/notice"
)

// cmdNotice sends one hint to the running server (notice.Hint): a writer
// outside it changed USER's MAILBOX, maybe the file --file new/NAME. For
// scripts and MTA pipes that write into a Maildir themselves where the
// server does not watch it (inotify off). It fails with EX_TEMPFAIL when
// no server reads the socket.
func cmdNotice(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("notice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	file := fs.String("file", "", "the file that changed: new/NAME or cur/NAME (default: rescan the mailbox)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageErr("notice takes USER and maybe MAILBOX")
	}
	h := notice.Hint{User: pos[0], Mailbox: "INBOX"}
	if len(pos) == 2 {
		h.Mailbox = pos[1]
	}
	if *file != "" {
		var ok bool
		if h.Folder, h.Name, ok = strings.Cut(*file, "/"); !ok {
			return usageErr("--file wants new/NAME or cur/NAME")
		}
	}
	_, l, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return err
	}
	if _, err := h.MarshalText(); err != nil {
		return withCode(exitUsage, err)
	}
	if err := notice.SendHint(filepath.Join(l.data, notice.HintSocketName), h); err != nil {
		return withCode(exitTempFail, err)
	}
	return nil
}

// cmdCluster manages the user → backend map in NATS JetStream KV that
// proxies with route = "kv" read: `cluster move USER BACKEND` (one Put),
// `cluster where USER`, `cluster forget USER`.
func cmdCluster(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("want move, where or forget")
	}
	sub := args[0]
	fs := flag.NewFlagSet("cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	replicas := fs.Int("replicas", 1, "copies of the map when this command creates it (3 for a 3-node NATS cluster)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return withCode(exitUsage, err)
	}
	want := map[string]int{"move": 2, "where": 1, "forget": 1}
	n, ok := want[sub]
	if !ok {
		return usageErr("unknown cluster command %q: want move, where or forget", sub)
	}
	if len(pos) != n {
		return usageErr("cluster %s takes %d arguments", sub, n)
	}
	cfg, _, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return err
	}
	urls, embedded, err := notice.ParseNATS(cfg.Cluster.NATS)
	if err != nil || cfg.Cluster.NATS == "" {
		return withCode(exitConfigError, fmt.Errorf("cluster.nats names no NATS server (%v)", err))
	}
	if embedded != "" {
		urls = "nats://" + embedded // the running server's
	}
	nc, err := nats.Connect(urls, nats.Name("dormouse cluster "+sub), nats.Timeout(5*time.Second))
	if err != nil {
		return withCode(exitTempFail, fmt.Errorf("connect to NATS %s: %w", urls, err))
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := notice.OpenUserMap(ctx, nc, *replicas)
	if err != nil {
		return withCode(exitTempFail, err)
	}
	switch sub {
	case "move":
		err = m.Set(ctx, pos[0], pos[1])
	case "forget":
		err = m.Delete(ctx, pos[0])
	case "where":
		b, ok, lerr := m.Lookup(ctx, pos[0])
		switch {
		case lerr != nil:
			err = lerr
		case !ok:
			fmt.Fprintf(stdout, "%s: not in the map (routed by hash)\n", pos[0])
		default:
			fmt.Fprintln(stdout, b)
		}
	}
	return withCode(exitTempFail, err)
}
