package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dormouse/dormouse/bench/internal/stats"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// natsKillResult is what the sleepers saw when a NATS node was stopped
// while mail arrived for them: each sleeper of a user that got mail is
// checked against the store (STATUS INBOX MESSAGES on a fresh login).
type natsKillResult struct {
	Node  string `json:"node"`  // the node stopped: proxy 0's and backend 0's
	Users int    `json:"users"` // users that got one message each
	// Checked sleepers of those users (-per-user each, at both proxies),
	// Correct: their EXISTS equals the store's message count; Missed: no
	// EXISTS within the bound; Wrong: an EXISTS other than the store's.
	Checked int `json:"checked"`
	Correct int `json:"correct"`
	Missed  int `json:"missed"`
	Wrong   int `json:"wrong"`
	// APPEND sent → EXISTS read, for deliveries sent in the first half
	// of the window after the stop (during the failover) and in the
	// second half (after it), over every checked sleeper.
	During stats.Dist `json:"latency_during"`
	After  stats.Dist `json:"latency_after"`
	// The proxies' wakes by reason over the phase: a proxy that lost its
	// node resumes every IDLE sleeper once when it reconnects.
	WakesResync float64 `json:"wakes_resync"`
	WakesNotice float64 `json:"wakes_notice"`
}

// sleeperSeen is what one sleeper read after the stop.
type sleeperSeen struct {
	exists int       // the EXISTS count, -1 if none
	at     time.Time // when it was read
	// For a sleeper that missed: its client address (the proxy logs it
	// as remote), the lines it read and why its reading ended.
	local string
	lines []string
	err   error
}

// killNATS stops node (which proxy 0 and backend 0 are connected to),
// then delivers one message by APPEND through proxy addr (connected to
// another node) to each of c.natsUsers users, spread over c.natsWindow,
// and checks every sleeper of those users: it must read the EXISTS that
// the store shows, within c.natsBound.
func killNATS(ctx context.Context, c config, conns []*client, node *server.Server, addr string, proxies []*proc, log *slog.Logger) *natsKillResult {
	res := &natsKillResult{Node: node.Name()}
	// Users after those of the delivery phase, so each starts from a
	// known store and gets exactly one message here.
	first := c.deliveries
	var users []int
	for u := first; u < first+c.natsUsers && (u+1)*c.perUser <= len(conns); u++ {
		users = append(users, u)
	}
	res.Users = len(users)
	resync0 := sum(proxies, `dormouse_proxy_wakes_total{reason="resync"}`)
	notice0 := sum(proxies, `dormouse_proxy_wakes_total{reason="notice"}`)

	// Every sleeper of those users reads until an EXISTS or the bound.
	seen := make([][]sleeperSeen, len(users))
	var readers sync.WaitGroup
	deadline := time.Now().Add(c.natsWindow + c.natsBound)
	for k, u := range users {
		seen[k] = make([]sleeperSeen, c.perUser)
		for j := range c.perUser {
			cl := conns[u*c.perUser+j]
			readers.Add(1)
			go func() {
				defer readers.Done()
				seen[k][j] = sleeperSeen{exists: -1, local: cl.conn.NetConn().LocalAddr().String()}
				cl.conn.NetConn().SetReadDeadline(deadline)
				defer cl.conn.NetConn().SetReadDeadline(time.Time{})
				for {
					l, err := cl.conn.ReadResponse()
					if err != nil {
						seen[k][j].err = err
						return
					}
					seen[k][j].lines = append(seen[k][j].lines, l)
					var n int
					if _, err := fmt.Sscanf(l, "* %d EXISTS", &n); err == nil {
						seen[k][j] = sleeperSeen{exists: n, at: time.Now()}
						return
					}
				}
			}()
		}
	}

	log.Info("stopping a NATS node", "node", node.Name(), "users", len(users), "window", c.natsWindow)
	node.Shutdown()
	stopped := time.Now()
	msg := []byte("From: bench@example.org\r\nSubject: nats node stopped\r\n\r\nhello\r\n")
	sent := make([]time.Time, len(users))
	var senders sync.WaitGroup
	for k, u := range users {
		at := stopped.Add(c.natsWindow * time.Duration(k) / time.Duration(len(users)))
		senders.Add(1)
		go func() {
			defer senders.Done()
			d, _, err := imaptest.Dial(ctx, addr, imaptest.DialOptions{Timeout: time.Minute})
			if err != nil {
				log.Warn("deliverer", "err", err)
				return
			}
			defer d.Close()
			if err := d.Login(fmt.Sprintf("u%d", u), fmt.Sprintf("pw%d", u)); err != nil {
				log.Warn("deliverer login", "err", err)
				return
			}
			time.Sleep(time.Until(at))
			sent[k] = time.Now()
			if st, err := d.Append("INBOX", msg); err != nil || !imaptest.IsOK(st) {
				log.Warn("append", "user", u, "status", st, "err", err)
			}
		}()
	}
	senders.Wait()
	readers.Wait()
	log.Info("checking the sleepers against the store")

	var during, after []time.Duration
	for k, u := range users {
		store := storeMessages(ctx, addr, u)
		for j, s := range seen[k] {
			res.Checked++
			switch {
			case s.exists < 0:
				res.Missed++
				log.Warn("missed", "user", u, "store", store, "device", j, "proxy", (u*c.perUser+j)%len(proxies), "client", s.local, "sent", sent[k].Format(time.RFC3339Nano), "read", s.lines, "err", s.err)
			case s.exists != store:
				res.Wrong++
				log.Warn("wrong EXISTS", "user", u, "exists", s.exists, "store", store)
			default:
				res.Correct++
			}
			if s.exists < 0 || sent[k].IsZero() {
				continue
			}
			lat := s.at.Sub(sent[k])
			if sent[k].Sub(stopped) < c.natsWindow/2 {
				during = append(during, lat)
			} else {
				after = append(after, lat)
			}
		}
	}
	res.During = stats.New(during, 0)
	res.After = stats.New(after, 0)
	res.WakesResync = sum(proxies, `dormouse_proxy_wakes_total{reason="resync"}`) - resync0
	res.WakesNotice = sum(proxies, `dormouse_proxy_wakes_total{reason="notice"}`) - notice0
	return res
}

// storeMessages is user's INBOX message count in the store (STATUS on a
// login of its own through addr), -2 when it cannot be read.
func storeMessages(ctx context.Context, addr string, user int) int {
	d, _, err := imaptest.Dial(ctx, addr, imaptest.DialOptions{Timeout: time.Minute})
	if err != nil {
		return -2
	}
	defer d.Close()
	if err := d.Login(fmt.Sprintf("u%d", user), fmt.Sprintf("pw%d", user)); err != nil {
		return -2
	}
	lines, st, err := d.Run("STATUS INBOX (MESSAGES)")
	if err != nil || !imaptest.IsOK(st) {
		return -2
	}
	for _, l := range lines {
		if i := strings.Index(l, "(MESSAGES "); i >= 0 {
			var n int
			if _, err := fmt.Sscanf(l[i:], "(MESSAGES %d)", &n); err == nil {
				return n
			}
		}
	}
	return -2
}
