package procmem

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mapped is the Pss of a process's mappings of files whose names end in
// a suffix: what mmap'ed files (a server's bbolt indexes) cost it.
type Mapped struct {
	Files  int   `json:"files"` // distinct files mapped
	PssKiB int64 `json:"pss_kib"`
}

// MappedFiles reads /proc/PID/smaps and sums the mappings of files whose
// path ends in suffix.
func MappedFiles(pid int, suffix string) (Mapped, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return Mapped{}, err
	}
	defer f.Close()
	return parseMapped(f, suffix)
}

// parseMapped reads smaps text: a header line per mapping (address,
// perms, offset, device, inode, path), then "Key: value kB" lines.
func parseMapped(r io.Reader, suffix string) (Mapped, error) {
	var m Mapped
	files := map[string]bool{}
	in := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			// A mapping's header: its path is the sixth field.
			in = len(f) >= 6 && strings.HasSuffix(f[5], suffix)
			if in {
				files[f[5]] = true
			}
			continue
		}
		if in && f[0] == "Pss:" && len(f) >= 2 {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				m.PssKiB += v
			}
		}
	}
	m.Files = len(files)
	return m, sc.Err()
}
