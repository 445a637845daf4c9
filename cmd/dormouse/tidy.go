package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dormouse/dormouse/internal/spool"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// tidyInterval is how often a running server looks for leftovers.
const tidyInterval = time.Hour

// tidy removes what processes that are gone left behind: the spool folders
// of dead processes (and files an older version spooled loose, an hour
// untouched), and files in the Maildirs' tmp/ untouched for 36 hours.
// serve runs it at start and every tidyInterval (tidyEvery).
func tidy(spoolRoot string, store *maildir.Store, log *slog.Logger) {
	now := time.Now()
	n, err := spool.Clean(spoolRoot, now)
	if err != nil {
		log.Warn("clean spool", "err", err)
	}
	m, err := store.CleanTmp(now.Add(-maildir.TmpMaxAge))
	if err != nil {
		log.Warn("clean Maildir tmp/", "err", err)
	}
	if n > 0 || m > 0 {
		log.Info("removed leftovers", "spool_entries", n, "maildir_tmp_files", m)
	}
}

// tidyEvery runs tidy every tidyInterval until ctx ends.
func tidyEvery(ctx context.Context, spoolRoot string, store *maildir.Store, log *slog.Logger) {
	t := time.NewTicker(tidyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tidy(spoolRoot, store, log)
		}
	}
}
