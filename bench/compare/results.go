package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// results is everything one run measured; all figures of one report come
// from one results.
type results struct {
	Started  time.Time               `json:"started"`
	Finished time.Time               `json:"finished"`
	Command  string                  `json:"command"`
	Plan     plan                    `json:"plan"`
	Machine  machine                 `json:"machine"`
	Versions versions                `json:"versions"`
	Idle     []idleResult            `json:"idle"`
	Active   map[string]activeResult `json:"active"` // by server name
	Mbsync   map[string]mbsyncResult `json:"mbsync"`
	// Sort: by server name, then by sortCommands name.
	Sort map[string]map[string]sortResult `json:"sort,omitempty"`
	// Search: by server name, then user, then searchCommands name.
	Search map[string]map[string]map[string]sortResult `json:"search,omitempty"`
	// Large: by server name, then message count.
	Large  map[string]map[int]largeResult `json:"large,omitempty"`
	Errors []string                       `json:"errors,omitempty"`
}

func (r *results) setLarge(name string, n int, l largeResult) {
	if r.Large == nil {
		r.Large = map[string]map[int]largeResult{}
	}
	if r.Large[name] == nil {
		r.Large[name] = map[int]largeResult{}
	}
	r.Large[name][n] = l
}

func (r *results) setActive(name string, a activeResult) {
	if r.Active == nil {
		r.Active = map[string]activeResult{}
	}
	r.Active[name] = a
}

func (r *results) setMbsync(name string, m mbsyncResult) {
	if r.Mbsync == nil {
		r.Mbsync = map[string]mbsyncResult{}
	}
	r.Mbsync[name] = m
}

func (r *results) setSort(name string, s map[string]sortResult) {
	if r.Sort == nil {
		r.Sort = map[string]map[string]sortResult{}
	}
	r.Sort[name] = s
}

func (r *results) setSearch(name, user string, s map[string]sortResult) {
	if r.Search == nil {
		r.Search = map[string]map[string]map[string]sortResult{}
	}
	if r.Search[name] == nil {
		r.Search[name] = map[string]map[string]sortResult{}
	}
	r.Search[name][user] = s
}

// idle finds the idle run of a server configuration at n connections.
func (r *results) idle(server string, hib bool, n int) (idleResult, bool) {
	for _, x := range r.Idle {
		if x.Server == server && x.Hibernate == hib && x.N == n {
			return x, true
		}
	}
	return idleResult{}, false
}

// machine is the size of the machine the run was on.
type machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemGiB   int    `json:"mem_gib"`
	Kernel   string `json:"kernel"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, ln := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(ln, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, ln := range strings.Split(string(b), "\n") {
			if f := strings.Fields(ln); len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemGiB = int((kib + 1<<19) >> 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// versions names what was compared.
type versions struct {
	Dormouse string `json:"dormouse"`
	Dovecot  string `json:"dovecot"`
	Go       string `json:"go"`
	Mbsync   string `json:"mbsync"`
}

func readVersions(dormouse string) versions {
	out := func(name string, args ...string) string {
		b, err := exec.Command(name, args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	if dormouse == "" {
		dormouse = "unknown"
	}
	return versions{Dormouse: dormouse, Dovecot: out("dovecot", "--version"), Go: runtime.Version(), Mbsync: out("mbsync", "--version")}
}

// chgrp gives a file to a group.
func chgrp(path, group string) error {
	g, err := user.LookupGroup(group)
	if err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(path, 0, gid); err != nil {
		return fmt.Errorf("chgrp %s: %w", path, err)
	}
	return nil
}
