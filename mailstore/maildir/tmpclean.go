package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TmpMaxAge is how long a file in a Maildir's tmp/ stays untouched before
// CleanTmp removes it: the 36 hours of the Maildir specification, for
// files left by a process killed while it wrote a message (by this server
// or by another delivery agent on the same Maildir).
const TmpMaxAge = 36 * time.Hour

// CleanTmp removes, from the tmp/ of every user's mailboxes, the files
// untouched since before cutoff: neither written, read nor changed
// (mtime, atime and ctime). The ctime counts because a message in tmp/
// may carry an INTERNALDATE as its mtime long before it is renamed into
// cur/, and no program can set a ctime back. It also removes, whatever
// their age, the files that a Dormouse process of this host wrote and
// that no running process can still rename: their names carry the
// writer's pid (see uniqueBase), and that process is gone. It returns how
// many files it removed and the first error; it goes on past errors.
func (s *Store) CleanTmp(cutoff time.Time) (removed int, err error) {
	keep := func(e error) {
		if err == nil && e != nil && !errors.Is(e, os.ErrNotExist) {
			err = fmt.Errorf("maildir: clean tmp/: %w", e)
		}
	}
	users, rerr := os.ReadDir(filepath.Join(s.root, "users"))
	if rerr != nil {
		keep(rerr)
		return 0, err
	}
	for _, u := range users {
		if !u.IsDir() {
			continue
		}
		md := filepath.Join(s.root, "users", u.Name(), "Maildir")
		boxes, rerr := os.ReadDir(md)
		if rerr != nil {
			keep(rerr)
			continue
		}
		tmps := []string{filepath.Join(md, "tmp")}
		for _, b := range boxes {
			if b.IsDir() && strings.HasPrefix(b.Name(), ".") && b.Name() != "." && b.Name() != ".." {
				tmps = append(tmps, filepath.Join(md, b.Name(), "tmp"))
			}
		}
		for _, tmp := range tmps {
			n, terr := cleanTmpDir(tmp, cutoff, s.host)
			removed += n
			keep(terr)
		}
	}
	return removed, err
}

// cleanTmpDir removes the regular files of one tmp/ untouched since
// cutoff, and those whose writer on this host has exited.
func cleanTmpDir(tmp string, cutoff time.Time, host string) (removed int, err error) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, ierr := e.Info()
		if ierr != nil {
			continue // renamed into cur/ meanwhile
		}
		if !lastTouched(fi).Before(cutoff) && !writerGone(e.Name(), host) {
			continue
		}
		if rerr := os.Remove(filepath.Join(tmp, e.Name())); rerr == nil {
			removed++
		} else if !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return removed, err
}

// writerGone reports whether name is a file name this server's writers
// give (uniqueBase: SECS.MUSECSPpidQn.host) with this host, written by a
// process that no longer runs. Another delivery agent's names, another
// host's (a Maildir shared over the network) and a pid that runs again,
// whoever runs it now, all keep the file for the 36-hour rule.
func writerGone(name, host string) bool {
	rest, ok := strings.CutSuffix(name, "."+host)
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, ".M")
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, "P")
	if !ok {
		return false
	}
	pidText, _, ok := strings.Cut(rest, "Q")
	if !ok {
		return false
	}
	pid, perr := strconv.Atoi(pidText)
	if perr != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return processGone(pid)
}
