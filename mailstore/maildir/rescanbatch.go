package maildir

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// fileFacts is what ingest needs of a file's Lstat.
type fileFacts struct {
	regular     bool
	size, mtime int64 // bytes; unix nanoseconds
}

// statFile returns the facts of path; a file that is gone or not regular
// has regular false.
func statFile(path string) fileFacts {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileFacts{}
	}
	return fileFacts{regular: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// statWorkers bounds the goroutines statFiles uses: the first open of a
// large folder waits on one Lstat per file, which is kernel CPU, so it
// scales with cores; more than four only queue on the directory's lock.
func statWorkers() int { return min(runtime.GOMAXPROCS(0), 4) }

// statChunk is how many names one statFiles worker takes at a time.
const statChunk = 256

// statFiles Lstats dir's names, several at a time, and returns their facts
// in the names' order.
func statFiles(dir string, names []string) []fileFacts {
	facts := make([]fileFacts, len(names))
	workers := statWorkers()
	if workers < 2 || len(names) < 2*statChunk {
		for i, n := range names {
			facts[i] = statFile(filepath.Join(dir, n))
		}
		return facts
	}
	var next sync.Mutex
	pos := 0
	take := func() (int, int) {
		next.Lock()
		defer next.Unlock()
		from := pos
		pos = min(pos+statChunk, len(names))
		return from, pos
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for from, to := take(); from < to; from, to = take() {
				for i := from; i < to; i++ {
					facts[i] = statFile(filepath.Join(dir, names[i]))
				}
			}
		})
	}
	wg.Wait()
	return facts
}

// ingestRest gives UIDs to the next batch (rescanBatch) of cs.rest, the
// files of cur/ a full rescan found unknown to the index, in name order,
// and leaves the others in cs.rest for the next transaction. The batch's
// files are Lstat'ed together first (statFiles), as the one-at-a-time
// Lstat of ingest was a fifth of a first open's time.
func (m *mboxTx) ingestRest(cs *changeSet) error {
	batch, added := m.u.s.opts.rescanBatch(), 0
	curDir := filepath.Join(m.dir, "cur")
	for len(cs.rest) > 0 && added < batch {
		// Stat what the batch still needs (a file skipped as not a
		// message does not count, so a round may fall short).
		names := cs.rest[:min(batch-added, len(cs.rest))]
		facts := statFiles(curDir, names)
		for i, n := range names {
			if ignoredName(n) {
				continue
			}
			ok, err := m.ingestFile(cs, "cur", n, facts[i])
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		cs.rest = cs.rest[len(names):]
	}
	if len(cs.rest) == 0 {
		cs.rest = nil
	}
	return nil
}
