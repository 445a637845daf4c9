package procmem

import (
	"os"
	"strconv"
	"strings"
)

// Kernel is a snapshot of system-wide memory counters (KiB) from
// /proc/meminfo and socket counts from /proc/net/sockstat. Both ends of a
// loopback connection live on the same machine, so the deltas include the
// client's side too, and any other activity on the machine.
type Kernel struct {
	Meminfo  map[string]int64 `json:"meminfo_kib"`
	Sockstat map[string]int64 `json:"sockstat"`
}

// ReadKernel takes a snapshot; unreadable files give empty maps.
func ReadKernel() Kernel {
	return Kernel{Meminfo: readMeminfo(), Sockstat: readSockstat()}
}

// UsedKiB is MemTotal − MemAvailable.
func (k Kernel) UsedKiB() int64 { return k.Meminfo["MemTotal"] - k.Meminfo["MemAvailable"] }

// UsedKiB reads MemTotal − MemAvailable now.
func UsedKiB() int64 { return Kernel{Meminfo: readMeminfo()}.UsedKiB() }

func readMeminfo() map[string]int64 {
	out := make(map[string]int64)
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return out
	}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) >= 2 {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				out[strings.TrimSuffix(f[0], ":")] = v
			}
		}
	}
	return out
}

// readSockstat reads lines like "TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1"
// into keys like "TCP.inuse".
func readSockstat() map[string]int64 {
	out := make(map[string]int64)
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return out
	}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) < 3 {
			continue
		}
		proto := strings.TrimSuffix(f[0], ":")
		for i := 1; i+1 < len(f); i += 2 {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err == nil {
				out[proto+"."+f[i]] = v
			}
		}
	}
	return out
}
