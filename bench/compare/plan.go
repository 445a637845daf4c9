package main

import (
	"fmt"
	"time"
)

// plan is the size of a comparison run.
type plan struct {
	Mode        string        `json:"mode"`
	IdleNs      []int         `json:"idle_ns"`      // idle connection counts
	PerUser     int           `json:"per_user"`     // idle connections per user
	Settle      time.Duration `json:"settle_ns"`    // bench/idle -settle
	Deliveries  int           `json:"deliveries"`   // wake-latency samples per idle run
	IdleTimeout time.Duration `json:"idle_timeout"` // bound on one bench/idle run
	Clients     int           `json:"clients"`      // active workload: C
	ActiveFor   time.Duration `json:"active_ns"`    // active workload: how long
	ActiveMsgs  int           `json:"active_msgs"`  // messages per active user
	SyncMsgs    int           `json:"sync_msgs"`    // mbsync mailbox
	SortMsgs    int           `json:"sort_msgs"`    // SORT/THREAD mailbox
	LargeMsgs   []int         `json:"large_msgs"`   // the large part's mailboxes
}

// plans are the two sizes: quick for development (a couple of minutes),
// full for the published figures.
var plans = map[string]plan{
	"quick": {
		Mode: "quick", IdleNs: []int{200, 500}, PerUser: 5, Settle: 4 * time.Second,
		Deliveries: 20, IdleTimeout: 5 * time.Minute,
		Clients: 4, ActiveFor: 8 * time.Second, ActiveMsgs: 500, SyncMsgs: 2000, SortMsgs: 5000,
		LargeMsgs: []int{100_000},
	},
	"full": {
		Mode: "full", IdleNs: []int{1000, 5000, 10000}, PerUser: 5, Settle: 10 * time.Second,
		Deliveries: 100, IdleTimeout: 30 * time.Minute,
		Clients: 16, ActiveFor: 30 * time.Second, ActiveMsgs: 2000, SyncMsgs: 10000, SortMsgs: 100000,
		LargeMsgs: []int{100_000, 1_000_000},
	},
}

// fixture returns the users and mail the plan needs.
func (p plan) fixture() fixture {
	maxN := 0
	for _, n := range p.IdleNs {
		maxN = max(maxN, n)
	}
	return fixture{
		IdleUsers: (maxN + p.PerUser - 1) / p.PerUser, IdleFmt: "user%04d",
		ActiveUsers: p.Clients, ActiveFmt: "active%02d", ActiveMsgs: p.ActiveMsgs,
		SyncUser: "sync", SyncMsgs: p.SyncMsgs, SortUser: "sorter", SortMsgs: p.SortMsgs, Password: "pass",
		LargeMsgs: p.LargeMsgs,
	}
}

// activeUsers names the active-workload users.
func (f fixture) activeUsers() []string {
	out := make([]string, f.ActiveUsers)
	for i := range out {
		out[i] = fmt.Sprintf(f.ActiveFmt, i)
	}
	return out
}
