// Package procmem measures a process and all its descendants from /proc:
// memory (Pss, Rss, Pss_Anon from smaps_rollup), threads and CPU time.
// A server made of several processes (Dovecot: a master and its children)
// is measured as one tree; a single Go process is a tree of one.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. It is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// maxProcs bounds the tree walk.
const maxProcs = 1_000_000

// Group sums the processes of a tree that share a name (comm).
type Group struct {
	Count      int   `json:"count"`
	RssKiB     int64 `json:"rss_kib"`
	PssKiB     int64 `json:"pss_kib"`
	PssAnonKiB int64 `json:"pss_anon_kib"`
}

// Tree is one measurement of a process tree.
type Tree struct {
	Procs      int              `json:"procs"`
	Threads    int              `json:"threads"`
	RssKiB     int64            `json:"rss_kib"`
	PssKiB     int64            `json:"pss_kib"`
	PssAnonKiB int64            `json:"pss_anon_kib"`
	PssFileKiB int64            `json:"pss_file_kib"`
	CPUSeconds float64          `json:"cpu_seconds"` // utime+stime, with reaped children
	ByComm     map[string]Group `json:"by_comm"`
}

// stat is what this package reads from /proc/PID/stat.
type stat struct {
	comm    string
	ppid    int
	threads int
	ticks   uint64 // utime + stime + cutime + cstime
}

// parseStat reads the text of /proc/PID/stat. The command name may hold
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	l, r := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if l < 0 || r < l {
		return stat{}, errors.New("procmem: stat: no (comm)")
	}
	f := strings.Fields(string(b[r+1:]))
	// f[0] is field 3 (state); utime is field 14, num_threads field 20.
	if len(f) < 18 {
		return stat{}, fmt.Errorf("procmem: stat: %d fields", len(f))
	}
	s := stat{comm: string(b[l+1 : r])}
	var err error
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return stat{}, fmt.Errorf("procmem: stat ppid: %w", err)
	}
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("procmem: stat times: %w", err)
		}
		if v > 0 {
			s.ticks += uint64(v)
		}
	}
	if s.threads, err = strconv.Atoi(f[17]); err != nil {
		return stat{}, fmt.Errorf("procmem: stat threads: %w", err)
	}
	return s, nil
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	return parseStat(b)
}

// rollup is the part of /proc/PID/smaps_rollup this package sums.
type rollup struct {
	rss, pss, pssAnon, pssFile int64
}

// parseRollup reads smaps_rollup text ("Pss:   1234 kB" lines).
func parseRollup(r io.Reader) (rollup, error) {
	var m rollup
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			m.rss = v
		case "Pss:":
			m.pss = v
		case "Pss_Anon:":
			m.pssAnon = v
		case "Pss_File:":
			m.pssFile = v
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("procmem: smaps_rollup: %w", err)
	}
	return m, nil
}

func readRollup(pid int) (rollup, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return rollup{}, err
	}
	defer f.Close()
	return parseRollup(f)
}

// treeStats returns root and all its descendants with their stat.
func treeStats(root int) (map[int]stat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("procmem: %w", err)
	}
	all := make(map[int]stat)
	children := make(map[int][]int)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		all[pid] = s
		children[s.ppid] = append(children[s.ppid], pid)
	}
	if _, ok := all[root]; !ok {
		return nil, fmt.Errorf("procmem: process %d not found", root)
	}
	out := make(map[int]stat)
	queue := []int{root}
	for len(queue) > 0 && len(out) < maxProcs {
		p := queue[0]
		queue = queue[1:]
		out[p] = all[p]
		queue = append(queue, children[p]...)
	}
	return out, nil
}

// Measure measures root and all its descendants.
func Measure(root int) (Tree, error) {
	procs, err := treeStats(root)
	if err != nil {
		return Tree{}, err
	}
	t := Tree{ByComm: make(map[string]Group)}
	var ticks uint64
	for pid, s := range procs {
		m, err := readRollup(pid)
		if err != nil {
			continue // exited meanwhile
		}
		t.Procs++
		t.Threads += s.threads
		ticks += s.ticks
		t.RssKiB += m.rss
		t.PssKiB += m.pss
		t.PssAnonKiB += m.pssAnon
		t.PssFileKiB += m.pssFile
		g := t.ByComm[s.comm]
		g.Count++
		g.RssKiB += m.rss
		g.PssKiB += m.pss
		g.PssAnonKiB += m.pssAnon
		t.ByComm[s.comm] = g
	}
	if t.Procs == 0 {
		return Tree{}, fmt.Errorf("procmem: cannot read smaps_rollup of %d", root)
	}
	t.CPUSeconds = float64(ticks) / clockTicks
	return t, nil
}

// CPU returns the CPU time (user + system, including reaped children) of
// root and all its descendants.
func CPU(root int) (time.Duration, error) {
	procs, err := treeStats(root)
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, s := range procs {
		ticks += s.ticks
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// SelfRSSKiB returns the resident set of the calling process.
func SelfRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(ln, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}
