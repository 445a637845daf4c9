// Package searchindex keeps a trigram index of a mailbox's messages so
// that SEARCH BODY and TEXT (RFC 9051 6.4.4: case-insensitive substring
// matching) read only the messages that can match. A message's texts are
// indexed in the form the matcher compares them (decoded from transfer
// encoding and charset, case-folded: imapmsg's Message.SearchTexts); a
// string can lie within a text only if every 3-byte sequence (trigram)
// of it does, so the messages holding all of a needle's trigrams are a
// superset of those that match: the index narrows, the matcher confirms.
//
// The index is a directory of immutable segment files, each the
// postings of a run of messages. New messages go into a new segment;
// segments are merged two by two as they grow (like a binary counter),
// so a mailbox of n messages has O(log n) of them and each message is
// rewritten O(log n) times. Nothing in it is needed for correctness: a
// message no segment covers is a candidate for every needle, a segment
// that fails its checks is deleted, and a UID that is no longer in the
// mailbox is a harmless candidate (the caller skips it) dropped at the
// next merge. The segments carry the mailbox's UIDVALIDITY and the
// format version; others are deleted.
package searchindex

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// version is the format version of segments (and of what is indexed:
// bump it when imapmsg changes how it decodes or folds text, so that
// every index is rebuilt).
const version = 1

// maxNeedleTrigrams bounds the postings read for one needle: the rarest
// this many of its trigrams narrow as well as all of them, nearly.
const maxNeedleTrigrams = 12

// staleTemp is how old a temporary file must be to be taken for one a
// crash left: no segment takes this long to write.
const staleTemp = time.Hour

// Index is the open index of one mailbox: its segments as they were at
// Open. An Index is used by one goroutine; several Indexes may be open on
// one directory at once (in one process or several), as segments are
// written under fresh names and never changed.
type Index struct {
	dir         string
	uidValidity uint32
	segs        []*segment // ascending by first UID
	log         *slog.Logger
	// added counts the segments Add wrote since the last Compact: a
	// bulk build's batches, which Compact merges whatever their sizes.
	added int
}

// Open opens the index in dir (created when missing) for a mailbox of
// the given UIDVALIDITY. Segments that fail their checks, or are of
// another version or UIDVALIDITY, are deleted.
func Open(dir string, uidValidity uint32, log *slog.Logger) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	ix := &Index{dir: dir, uidValidity: uidValidity, log: log}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".tmp") {
			// Being written, or left by a crash: removed once old.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				os.Remove(path)
			}
			continue
		}
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		s, err := openSegment(path, uidValidity)
		if errors.Is(err, fs.ErrNotExist) {
			continue // merged away by another Index since ReadDir
		}
		if err != nil {
			log.Info("search index: dropping segment", "path", path, "err", err)
			os.Remove(path)
			continue
		}
		ix.segs = append(ix.segs, s)
	}
	ix.sortSegments()
	return ix, nil
}

func (ix *Index) sortSegments() {
	slices.SortFunc(ix.segs, func(a, b *segment) int {
		return compareSegments(a, b)
	})
}

// compareSegments orders segments by first UID, then by size, largest
// first (an empty one last).
func compareSegments(a, b *segment) int {
	af, bf := firstUID(a), firstUID(b)
	switch {
	case af != bf:
		if af < bf {
			return -1
		}
		return 1
	case len(a.uids) != len(b.uids):
		return len(b.uids) - len(a.uids)
	}
	return strings.Compare(a.path, b.path)
}

func firstUID(s *segment) uint32 {
	if len(s.uids) == 0 {
		return ^uint32(0)
	}
	return s.uids[0]
}

// Close closes the segment files.
func (ix *Index) Close() error {
	var errs []error
	for _, s := range ix.segs {
		errs = append(errs, s.close())
	}
	ix.segs = nil
	return errors.Join(errs...)
}

// Missing returns the UIDs among uids (ascending) that no segment covers.
func (ix *Index) Missing(uids []uint32) []uint32 {
	covered := make([]bool, len(uids))
	for _, s := range ix.segs {
		// Both ascending: one walk through each.
		i := 0
		for _, u := range s.uids {
			for i < len(uids) && uids[i] < u {
				i++
			}
			if i == len(uids) {
				break
			}
			if uids[i] == u {
				covered[i] = true
			}
		}
	}
	n := 0
	for _, c := range covered {
		if !c {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	missing := make([]uint32, 0, n)
	for i, u := range uids {
		if !covered[i] {
			missing = append(missing, u)
		}
	}
	return missing
}

// Candidates returns, ascending, the covered messages that may contain
// the folded needle in one of their texts: those holding every trigram
// of it. all is true when the needle is too short to narrow anything (it
// has no trigram). A message not covered (Missing) may match too.
func (ix *Index) Candidates(ctx context.Context, needle string) (uids []uint32, all bool, err error) {
	tris := Trigrams(needle)
	if len(tris) == 0 {
		return nil, true, nil
	}
	var out []uint32
	for _, s := range ix.segs {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		found, err := s.candidates(tris)
		if err != nil {
			// Damaged where Open does not look (the postings): drop it,
			// so that the next search indexes its messages again.
			ix.log.Warn("search index: dropping unreadable segment", "path", s.path, "err", err)
			os.Remove(s.path)
			return nil, false, fmt.Errorf("search index %s: %w", s.path, err)
		}
		out = mergeSorted(out, found)
	}
	return out, false, nil
}

// candidates intersects the postings of tris in s, rarest first.
func (s *segment) candidates(tris []uint32) ([]uint32, error) {
	type span struct{ from, to int64 }
	spans := make([]span, 0, len(tris))
	for _, t := range tris {
		from, to, ok, err := s.find(t)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil // no message of s holds t
		}
		spans = append(spans, span{from, to})
	}
	slices.SortFunc(spans, func(a, b span) int { return int((a.to - a.from) - (b.to - b.from)) })
	var out []uint32
	for i, sp := range spans[:min(len(spans), maxNeedleTrigrams)] {
		p, err := s.postings(sp.from, sp.to)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out = p
		} else {
			out = intersectSorted(out, p)
		}
		if len(out) == 0 {
			return nil, nil
		}
	}
	return out, nil
}

// Write writes b's messages as a new segment, then merges segments as
// Compact says.
func (ix *Index) Write(b *Builder, live func(uid uint32) bool) error {
	if err := ix.Add(b); err != nil {
		return err
	}
	return ix.Compact(live)
}

// Add writes b's messages as a new segment, without merging: a bulk
// build adds its batches, then compacts once, so that each posting is
// rewritten once rather than at every doubling.
func (ix *Index) Add(b *Builder) error {
	if b.Len() == 0 {
		return nil
	}
	s, err := ix.writeSegment(b.uids, func(sw *segmentWriter) error {
		return b.eachPosting(sw.add)
	})
	if err != nil {
		return err
	}
	ix.segs = append(ix.segs, s)
	ix.sortSegments()
	ix.added++
	return nil
}

// Compact merges the newest segments into one, keeping only UIDs for
// which live is true: at least the segments added since the last Compact
// (a bulk build's batches: its last one is usually small, and by the
// rule below alone nothing would be merged, leaving a large mailbox in
// hundreds of segments), then back as long as the run at the end holds
// at least half as many messages as the segment before it (a binary
// counter, when segments come one at a time: O(log n) segments, each
// message rewritten O(log n) times).
func (ix *Index) Compact(live func(uid uint32) bool) error {
	n, added := len(ix.segs), ix.added
	ix.added = 0
	if n < 2 {
		return nil
	}
	i, total := n-1, len(ix.segs[n-1].uids)
	for i > 0 && (i > n-added || 2*total >= len(ix.segs[i-1].uids)) {
		i--
		total += len(ix.segs[i].uids)
	}
	if i == n-1 {
		return nil
	}
	olds := slices.Clone(ix.segs[i:])
	m, err := ix.merge(olds, live)
	if err != nil {
		return err
	}
	ix.segs = ix.segs[:i]
	if len(m.uids) > 0 {
		ix.segs = append(ix.segs, m)
	} else {
		m.close()
		os.Remove(m.path)
	}
	for _, old := range olds {
		old.close()
		if err := os.Remove(old.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("search index: %w", err)
		}
	}
	return nil
}

// merge writes one segment holding the live messages of segs. It reuses
// its buffers from one trigram to the next: a bulk build's final merge
// reads every posting of the mailbox, and fresh slices per trigram and
// segment were most of what a background build allocated.
//
// live is asked once per message, not per posting: the messages to drop
// (usually none) are listed first, and a trigram's postings are filtered
// only when there are any. Asking it per posting (a binary search in the
// caller's view) was 40 % of a 100,000-message background build.
func (ix *Index) merge(segs []*segment, live func(uint32) bool) (*segment, error) {
	n := 0
	for _, s := range segs {
		n += len(s.uids)
	}
	uids := make([]uint32, 0, n)
	for _, s := range segs {
		uids = append(uids, s.uids...)
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	var dead []uint32 // ascending, as uids
	uids = slices.DeleteFunc(uids, func(u uint32) bool {
		if live(u) {
			return false
		}
		dead = append(dead, u)
		return true
	})
	keep := func(p []uint32) []uint32 {
		if len(dead) == 0 {
			return p
		}
		return slices.DeleteFunc(p, func(u uint32) bool {
			_, gone := slices.BinarySearch(dead, u)
			return gone
		})
	}
	return ix.writeSegment(uids, func(sw *segmentWriter) error {
		cursors := make([]*segmentCursor, len(segs))
		for i, s := range segs {
			c, err := newSegmentCursor(s)
			if err != nil {
				return err
			}
			cursors[i] = c
		}
		var raw []byte       // one segment's postings of the trigram, encoded
		var p, q, m []uint32 // all segments' so far, this segment's, a merge of both
		for {
			// The lowest trigram any cursor is on (few segments: a scan).
			var tri uint32
			found := false
			for _, c := range cursors {
				if c.valid && (!found || c.tri < tri) {
					tri, found = c.tri, true
				}
			}
			if !found {
				return nil
			}
			p = p[:0]
			for _, c := range cursors {
				if !c.valid || c.tri != tri {
					continue
				}
				var err error
				if raw, q, err = c.postings(raw, q[:0]); err != nil {
					return err
				}
				if len(p) == 0 || len(q) == 0 || p[len(p)-1] < q[0] {
					// Segments in UID order (a bulk build's): a
					// concatenation.
					p = append(p, q...)
				} else {
					m = mergeInto(m[:0], p, q)
					p, m = m, p
				}
				if err := c.next(); err != nil {
					return err
				}
			}
			if err := sw.add(tri, keep(p)); err != nil {
				return err
			}
		}
	})
}

// writeSegment writes a segment of uids through fill, under a temporary
// name renamed when complete, and opens it.
func (ix *Index) writeSegment(uids []uint32, fill func(*segmentWriter) error) (*segment, error) {
	f, err := os.CreateTemp(ix.dir, ".tmp*")
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("search index: write segment: %w", err)
	}
	sw, err := newSegmentWriter(f, ix.uidValidity, uids)
	if err != nil {
		return fail(err)
	}
	if err := fill(sw); err != nil {
		return fail(err)
	}
	if err := sw.finish(); err != nil {
		return fail(err)
	}
	var first, last uint32
	if len(uids) > 0 {
		first, last = uids[0], uids[len(uids)-1]
	}
	name := fmt.Sprintf("%010d-%010d.%s.seg", first, last, strings.TrimPrefix(filepath.Base(tmp), ".tmp"))
	path := filepath.Join(ix.dir, name)
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	s, err := readSegment(f, ix.uidValidity)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("search index: reopen %s: %w", path, err)
	}
	s.path = path
	return s, nil
}

// Size returns the bytes of the index's segments on disk.
func (ix *Index) Size() (int64, error) {
	var total int64
	for _, s := range ix.segs {
		st, err := s.f.Stat()
		if err != nil {
			return 0, err
		}
		total += st.Size()
	}
	return total, nil
}
