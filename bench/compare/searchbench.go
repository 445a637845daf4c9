package main

import (
	"context"
	"fmt"
)

// The search part: SEARCH TEXT and SEARCH BODY over the sync user's INBOX
// (plan.SyncMsgs messages of 1-64 KiB, the fixture's) and over the sort
// user's (plan.SortMsgs small messages), each command on a fresh
// connection, the first run (Dormouse builds its search index then;
// Dovecot, without an FTS plugin, reads every message each time)
// reported apart from the median of the sortRepeats runs after, as the
// sort part does.

// searchCommands are the commands measured, by row name. "4242@" is in
// one Message-ID in 10,000; "zebra crossing" is in no message, the
// search that must read everything when nothing narrows it; "budget
// invoice" is two words of the fixture's 36 side by side, in most
// messages: the index cannot narrow it.
var searchCommands = []struct{ name, cmd string }{
	{"SEARCH TEXT (rare: one in 10,000)", `SEARCH TEXT "4242@"`},
	{"SEARCH TEXT (nowhere)", `SEARCH TEXT "zebra crossing"`},
	{"SEARCH BODY (nowhere)", `SEARCH BODY "zebra crossing"`},
	{"SEARCH BODY (common)", `SEARCH BODY "budget invoice"`},
}

// searchMailboxes are the users whose INBOX the search part searches,
// and how many messages each holds in the plan.
func searchMailboxes(p plan, f fixture) []struct {
	user string
	msgs int
} {
	return []struct {
		user string
		msgs int
	}{{f.SyncUser, p.SyncMsgs}, {f.SortUser, p.SortMsgs}}
}

// searchRuns starts s without hibernation, opens the searched mailboxes
// once (both servers index their messages' flags and headers) and
// measures searchCommands in each.
func searchRuns(ctx context.Context, s server, p plan, f fixture, res *results) error {
	if err := s.Start(ctx, false); err != nil {
		return err
	}
	defer s.Stop()
	for _, mb := range searchMailboxes(p, f) {
		if err := warm(ctx, s.Addr(), []string{mb.user}, f.Password); err != nil {
			return err
		}
		r, err := runTimed(ctx, s.Addr(), mb.user, f.Password, s.PID(), searchCommands)
		if err != nil {
			return fmt.Errorf("search %s: %w", mb.user, err)
		}
		res.setSearch(s.Name(), mb.user, r)
	}
	return s.Stop()
}
