package imapserver

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// The check of SEARCH BODY and TEXT: the messages the index cannot rule
// out (searchfts.go) are read and searched, each whole from one read
// into a buffer the search reuses, and on all cores: a needle in most
// messages of a large mailbox leaves every message to check, and that
// was the whole time of such a search.

const (
	// maxWholeSearch is the largest message a search reads whole into
	// memory; a larger one is read part by part through a reader.
	// Each goroutine checking messages holds one buffer of at most this.
	maxWholeSearch = 1 << 20
	// maxSearchWorkers bounds the goroutines that check one search's
	// messages (at most GOMAXPROCS).
	maxSearchWorkers = 8
	// parallelSearchMin is the fewest candidates worth checking on
	// several goroutines: below it, starting them costs more than it
	// gains.
	parallelSearchMin = 64
	// searchBlock is how many consecutive messages a goroutine takes at
	// a time: few enough that the goroutines end together, many enough
	// that taking them costs nothing.
	searchBlock = 32
	// searchInterruptPoll is how often a parallel check looks whether
	// its client left (conn.interrupted), as the plain loop does between
	// messages.
	searchInterruptPoll = 20 * time.Millisecond
)

// errSearchStopped ends a read of a parallel check that was stopped
// (its client left, or another message's check failed).
var errSearchStopped = errors.New("search stopped")

// readWhole reads content whole into s.whole and parses its header from
// there: one read (for a Maildir file, a few preads) instead of a
// reader per part, and text that needs no decoding is searched where it
// lies (imapmsg.ParseHeaderBytes); the envelope only when a key reads
// the Date (imapmsg.ParseTextBytes).
func (s *searcher) readWhole(content mailstore.Content) (*imapmsg.Message, error) {
	size := int(content.Size())
	s.whole = slices.Grow(s.whole[:0], size)[:size]
	n, err := content.ReadAt(s.whole, 0)
	if n < size {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
		return nil, err
	}
	if s.needsDate {
		return imapmsg.ParseHeaderBytes(s.whole)
	}
	return imapmsg.ParseTextBytes(s.whole)
}

// lookUp looks up the candidates among messages from..to-1 (sequence
// numbers - 1) together, when the store can (mailstore.ManyOpener), for
// open: matchParallel's goroutines per block, the plain loop too. A
// failed lookup leaves each to Open.
func (s *searcher) lookUp(mask []bool, from, to int) {
	s.blockUIDs = s.blockUIDs[:0]
	msgs := s.c.sel.view.Messages
	for i := from; i < to; i++ {
		if mask == nil || mask[i] {
			s.blockUIDs = append(s.blockUIDs, msgs.UID(i))
		}
	}
	s.files.lookUp(s.c.ctx, s.c.sel.mbox, s.blockUIDs)
}

// open opens message uid: through the block looked up together when it
// is in it, else by itself.
func (s *searcher) open(uid uint32) (mailstore.Content, error) {
	return s.files.open(s.c.ctx, s.c.sel.mbox, uid)
}

// fork returns a searcher for another goroutine checking messages beside
// s: the command's keys and resolved sets (read only from then on), its
// own per-message state and buffers; interrupted is what stops its reads.
func (s *searcher) fork(interrupted func() error) *searcher {
	return &searcher{c: s.c, now: s.now, interrupted: interrupted, usesModSeq: s.usesModSeq, needsContent: s.needsContent,
		needsFile: s.needsFile, needsDate: s.needsDate, sets: s.sets, emailIDs: s.emailIDs, threadIDs: s.threadIDs,
		text: s.text.fork()}
}

// matchParallel evaluates key against the candidates of mask (nil: every
// message) on several goroutines and returns, per message of the view,
// whether it matches; nil and no error when the check is too small or
// there is one core to use (the caller's loop does it then): one core
// is left to a background index build while one runs, but to the first
// search of the mailbox it builds (allCores). A message
// gone from the store does not match; the first other error, in
// sequence order among those seen, ends the check. The client leaving
// ends it too (conn.interrupted, looked at from this goroutine: the
// workers never touch the connection).
func (s *searcher) matchParallel(key *imapwire.SearchKey, mask []bool) ([]bool, error) {
	v := s.c.sel.view
	n := v.Messages.Len()
	candidates := n
	if mask != nil {
		candidates = count(mask)
	}
	cores := runtime.GOMAXPROCS(0)
	if !s.allCores && s.c.srv.searchBuild.building() {
		// Leave a core to the background build: at nice 19 it would
		// otherwise wait for every search to end, and searches one
		// after the other (a client paging through results) kept the
		// index from ever covering the mailbox, each reading what it
		// lacks (bench/compare's "nowhere" rows: 1 ms became 100-240).
		// The first search of the mailbox being built takes them all
		// (searchbuild.go).
		cores--
	}
	workers := min(cores, maxSearchWorkers, candidates/(parallelSearchMin/2))
	if workers < 2 || candidates < parallelSearchMin {
		return nil, nil
	}
	if s.allCores {
		defer s.c.srv.searchBuild.hold()()
	}
	hits := make([]bool, n)
	var (
		next    atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errSeq  = n
		firstEr error
	)
	fail := func(i int, err error) {
		errMu.Lock()
		if i < errSeq {
			errSeq, firstEr = i, err
		}
		errMu.Unlock()
		stop.Store(true)
	}
	stopped := func() error {
		if stop.Load() {
			return errSearchStopped
		}
		return nil
	}
	for range workers {
		ws := s.fork(stopped)
		wg.Go(func() {
			defer ws.release()
			for !stop.Load() {
				from := int(next.Add(searchBlock)) - searchBlock
				if from >= n {
					return
				}
				to := min(from+searchBlock, n)
				ws.lookUp(mask, from, to)
				for i := from; i < to && !stop.Load(); i++ {
					if mask != nil && !mask[i] {
						continue
					}
					ok, err := ws.match(uint32(i+1), key)
					ws.release()
					if err != nil {
						if !errors.Is(err, mailstore.ErrNoMessage) && !errors.Is(err, errSearchStopped) {
							fail(i, err)
						}
						continue
					}
					hits[i] = ok
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(searchInterruptPoll)
	defer tick.Stop()
	for {
		if err := s.c.interrupted(); err != nil {
			stop.Store(true)
			<-done
			return nil, err
		}
		select {
		case <-done:
			if firstEr != nil {
				return nil, storeError(fmt.Errorf("search: %w", firstEr))
			}
			return hits, nil
		case <-tick.C:
		}
	}
}
