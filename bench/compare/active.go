package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/bench/internal/stats"
	"github.com/dormouse/dormouse/internal/imaptest"
)

// activeConfig is one active-workload run.
type activeConfig struct {
	Addr     string
	Users    []string // one per client
	Password string
	Duration time.Duration
	MaxOps   int // per client, a bound besides Duration
	Timeout  time.Duration
	PID      int // server process tree, for CPU time
}

// op is one kind of step in the mix, with its weight.
type op struct {
	name   string
	weight int
}

// mix is the active workload: what a desktop or phone client does with an
// open mailbox. The weights add up to 100.
var mix = []op{
	{"SELECT", 5},
	{"FETCH FLAGS", 20},
	{"FETCH ENVELOPE", 15},
	{"FETCH BODY", 15},
	{"SEARCH", 10},
	{"STORE", 15},
	{"APPEND", 10},
	{"EXPUNGE", 10},
}

// pick chooses a step of the mix.
func pick(rng *rand.Rand) string {
	r := rng.IntN(100)
	for _, o := range mix {
		if r < o.weight {
			return o.name
		}
		r -= o.weight
	}
	return mix[len(mix)-1].name
}

// activeResult is what the active workload measured.
type activeResult struct {
	Clients     int                   `json:"clients"`
	Seconds     float64               `json:"seconds"`
	Commands    int                   `json:"commands"`
	PerSecond   float64               `json:"commands_per_second"`
	Errors      int                   `json:"errors"`
	FirstError  string                `json:"first_error,omitempty"`
	Latency     stats.Dist            `json:"latency"`
	ByCommand   map[string]stats.Dist `json:"by_command"`
	CPUSeconds  float64               `json:"server_cpu_seconds"`
	CPUMsPerCmd float64               `json:"server_cpu_ms_per_command"`
	SamplesMs   []float64             `json:"-"` // every latency, for the CDF
	ReplyBytes  int64                 `json:"reply_bytes"`
}

// sample is one timed command.
type sample struct {
	cmd string
	d   time.Duration
}

// runActive runs the workload: every client logs in as its own user,
// selects INBOX, then runs steps of the mix until Duration is over or it
// has done MaxOps steps.
func runActive(ctx context.Context, cfg activeConfig) (activeResult, error) {
	res := activeResult{Clients: len(cfg.Users)}
	clients := make([]*imapClient, len(cfg.Users))
	for i, u := range cfg.Users {
		c, err := dialIMAP(ctx, cfg.Addr, cfg.Timeout)
		if err == nil {
			err = c.loginSelect(u, cfg.Password)
		}
		if err != nil {
			for _, o := range clients[:i] {
				o.close()
			}
			return res, fmt.Errorf("active: client %d (%s): %w", i, u, err)
		}
		clients[i] = c
	}
	cpu0, err := procmem.CPU(cfg.PID)
	if err != nil {
		return res, fmt.Errorf("active: %w", err)
	}
	var (
		mu      sync.Mutex
		all     []sample
		errs    int
		first   error
		replies int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, n, err := drive(ctx, c, i, deadline, cfg.MaxOps)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, s...)
			replies += n
			if err != nil {
				errs++
				if first == nil {
					first = fmt.Errorf("client %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := procmem.CPU(cfg.PID)
	if err != nil {
		return res, fmt.Errorf("active: %w", err)
	}
	for _, c := range clients {
		_ = c.logout()
	}
	res.Seconds = elapsed.Seconds()
	res.Commands = len(all)
	res.PerSecond = float64(len(all)) / elapsed.Seconds()
	res.Errors = errs
	if first != nil {
		res.FirstError = first.Error()
	}
	res.CPUSeconds = (cpu1 - cpu0).Seconds()
	if len(all) > 0 {
		res.CPUMsPerCmd = res.CPUSeconds * 1000 / float64(len(all))
	}
	res.ReplyBytes = replies
	byCmd := map[string][]time.Duration{}
	var durs []time.Duration
	for _, s := range all {
		byCmd[s.cmd] = append(byCmd[s.cmd], s.d)
		durs = append(durs, s.d)
	}
	res.Latency = stats.New(durs, 0)
	res.ByCommand = map[string]stats.Dist{}
	for k, v := range byCmd {
		res.ByCommand[k] = stats.New(v, 0)
	}
	res.SamplesMs = durationsMs(durs)
	if len(all) == 0 {
		return res, errors.New("active: no command completed")
	}
	return res, nil
}

// durationsMs returns the samples in milliseconds, sorted.
func durationsMs(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x) / 1e6
	}
	sort.Float64s(out)
	return out
}

// drive runs one client's steps. It stops at the first error.
func drive(ctx context.Context, c *imapClient, seed int, deadline time.Time, maxOps int) ([]sample, int64, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	var out []sample
	var bytes int64
	timed := func(name, cmd string, literal []byte) error {
		t := time.Now()
		n, err := c.run(cmd, literal)
		bytes += int64(n)
		if err != nil {
			return err
		}
		out = append(out, sample{name, time.Since(t)})
		return nil
	}
	for i := 0; i < maxOps && time.Now().Before(deadline); i++ {
		if ctx.Err() != nil {
			return out, bytes, ctx.Err()
		}
		n := c.exists
		if n < 1 {
			return out, bytes, errors.New("mailbox is empty")
		}
		seq := rng.IntN(n) + 1
		var err error
		switch pick(rng) {
		case "SELECT":
			err = timed("SELECT", "SELECT INBOX", nil)
		case "FETCH FLAGS":
			lo := rng.IntN(max(n-99, 1)) + 1
			err = timed("FETCH", fmt.Sprintf("FETCH %d:%d (UID FLAGS)", lo, min(lo+99, n)), nil)
		case "FETCH ENVELOPE":
			lo := rng.IntN(max(n-19, 1)) + 1
			err = timed("FETCH", fmt.Sprintf("FETCH %d:%d (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)", lo, min(lo+19, n)), nil)
		case "FETCH BODY":
			err = timed("FETCH", fmt.Sprintf("FETCH %d (UID BODY.PEEK[])", seq), nil)
		case "SEARCH":
			if rng.IntN(2) == 0 {
				err = timed("SEARCH", "SEARCH UNSEEN", nil)
			} else {
				err = timed("SEARCH", fmt.Sprintf("SEARCH SUBJECT %s", imaptest.Quote(words[rng.IntN(len(words))])), nil)
			}
		case "STORE":
			sign := "+"
			if rng.IntN(2) == 0 {
				sign = "-"
			}
			err = timed("STORE", fmt.Sprintf(`STORE %d %sFLAGS (\Seen)`, seq, sign), nil)
		case "APPEND":
			msg := appendMessage(rng, seed, i)
			err = timed("APPEND", fmt.Sprintf(`APPEND INBOX (\Seen) {%d}`, len(msg)), msg)
		case "EXPUNGE":
			// The newest message goes, so the mailbox stays about its
			// size with APPEND at the same weight.
			err = timed("STORE", fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Deleted)`, n), nil)
			if err == nil {
				err = timed("EXPUNGE", "EXPUNGE", nil)
			}
		}
		if err != nil {
			return out, bytes, err
		}
	}
	return out, bytes, nil
}

// appendMessage is a small message a client appends (like a sent mail).
func appendMessage(rng *rand.Rand, client, i int) []byte {
	body := make([]byte, 0, 2048)
	for len(body) < 800+rng.IntN(2000) {
		body = append(body, words[rng.IntN(len(words))]...)
		body = append(body, ' ')
		if rng.IntN(10) == 0 {
			body = append(body, "\r\n"...)
		}
	}
	return fmt.Appendf(nil, "From: <c%d@example.org>\r\nTo: <reader@example.org>\r\nSubject: appended %d\r\nDate: %s\r\nMessage-ID: <app-%d-%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		client, i, baseTime.Format(time.RFC1123Z), client, i, body)
}
