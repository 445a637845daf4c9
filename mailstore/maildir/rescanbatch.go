package maildir

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
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

// statWorkers bounds the goroutines that Lstat ahead of ingestRest: the
// first open of a large folder waits on one Lstat per file, which is
// kernel CPU, so it scales with cores; more than four only queue on the
// directory's lock. One core is left to ingestRest, whose inserts take
// longer than the Lstats (a Lstat runs without giving up its core): a
// worker more than the cores left only slows the inserts down.
func statWorkers() int { return max(1, min(runtime.GOMAXPROCS(0)-1, 4)) }

// statChunk is how many names one stat worker takes at a time.
const statChunk = 256

// statAhead Lstats a list of files on other goroutines, in chunks taken
// in order, while its caller goes through the list: the caller's index
// inserts and the kernel's Lstats overlap.
type statAhead struct {
	dir   *statDir
	names []string
	facts []fileFacts
	ready []chan struct{} // closed when chunk i's facts are in
	next  atomic.Int64    // the next chunk to take
	stop  atomic.Bool     // the caller gave up: take no more chunks
	// workers counts the workers still running: the last one out closes
	// dir.
	workers atomic.Int32
}

// startStats starts the Lstats of dir's names.
func startStats(dir string, names []string) *statAhead {
	chunks := (len(names) + statChunk - 1) / statChunk
	s := &statAhead{names: names, facts: make([]fileFacts, len(names)), ready: make([]chan struct{}, chunks)}
	for i := range s.ready {
		s.ready[i] = make(chan struct{})
	}
	n := min(statWorkers(), chunks)
	if n == 0 {
		return s
	}
	s.dir = openStatDir(dir)
	s.workers.Store(int32(n))
	for range n {
		go s.work()
	}
	return s
}

func (s *statAhead) work() {
	defer func() {
		if s.workers.Add(-1) == 0 {
			s.dir.close()
		}
	}()
	for !s.stop.Load() {
		c := int(s.next.Add(1) - 1)
		if c >= len(s.ready) {
			return
		}
		for i := c * statChunk; i < min((c+1)*statChunk, len(s.names)); i++ {
			s.facts[i] = s.dir.stat(s.names[i])
		}
		close(s.ready[c])
	}
}

// get returns the facts of names[i], waiting for its chunk.
func (s *statAhead) get(i int) fileFacts {
	<-s.ready[i/statChunk]
	return s.facts[i]
}

// close lets the workers end before the list does.
func (s *statAhead) close() { s.stop.Store(true) }

// ingestRest gives UIDs to the next batch (rescanBatch) of cs.rest, the
// files of cur/ a full rescan found unknown to the index, in name order,
// and leaves the others in cs.rest for the next transaction. The batch's
// files are Lstat'ed ahead on other goroutines (statAhead), as the
// one-at-a-time Lstat of ingest was a fifth of a first open's time.
// With cs.unlogged the batch writes no MODSEQ entries (modseqlog.go).
func (m *mboxTx) ingestRest(cs *changeSet) error {
	if cs.unlogged {
		return m.ingestUnlogged(func() (int, error) { return m.ingestBatch(cs) })
	}
	_, err := m.ingestBatch(cs)
	return err
}

// ingestBatch is ingestRest; it returns the number of messages added.
func (m *mboxTx) ingestBatch(cs *changeSet) (added int, err error) {
	batch := m.u.s.opts.rescanBatch()
	top, _ := m.files.Cursor().Last()
	m.filesTop, m.filesTopKnown = string(top), true // (put keeps it)
	defer func() { m.filesTopKnown = false }()
	curDir := filepath.Join(m.dir, "cur")
	// UIDs and MODSEQs only grow, and the names come sorted: the
	// records, the MODSEQ entries and (but for a rare name whose base
	// sorts apart) the base names come in key order, so the commit fills
	// their pages (bbolt's default half-fills, for inserts in between
	// that never come).
	m.msgs.FillPercent, m.ms.FillPercent, m.files.FillPercent = 1, 1, 1
	for len(cs.rest) > 0 && added < batch {
		// Stat what the batch still needs (a file skipped as not a
		// message does not count, so a round may fall short).
		names := cs.rest[:min(batch-added, len(cs.rest))]
		stats := startStats(curDir, names)
		for i, n := range names { // (listNames left out what is not mail)
			ok, err := m.ingestFile(cs, "cur", n, stats.get(i))
			if err != nil {
				stats.close()
				return added, err
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
	return added, nil
}
