package imapview

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dormouse/dormouse/imapwire"
)

// The live search contexts of a hibernated view are one extension state
// (extContexts): a layout version, then each context's tag, form,
// criteria, sort keys and result, the result as ranges (ascending runs
// for a SEARCH; for a SORT, runs that ascend or descend by one, so that
// ARRIVAL and REVERSE ARRIVAL orders are a run each). Every integer is a
// uvarint, a signed one zigzag-encoded.
//
//	version   byte (contextsVersion)
//	count     uvarint
//	per context:
//	  tag     uvarint length, bytes
//	  flags   uvarint: 1 UID, 2 sorted
//	  key     the criteria tree (appendKey)
//	  sort    (sorted only) uvarint count, per key: name string, reverse uvarint
//	  result  SEARCH: appendRanges; SORT: uvarint count of runs, per run
//	          first (varint, from the previous run's last) and span
//	          (varint, negative descending)
const contextsVersion = 1

// Bounds of a decoded criteria tree: a blob may come from another
// process (an upgrade), so its recursion and size are checked.
const (
	maxKeyDepth = 64
	maxKeyNodes = 1000 // as SEARCH's own limit on keys
)

const (
	ctxFlagUID    = 1
	ctxFlagSorted = 2
)

func appendContexts(b []byte, cs []*Context) []byte {
	b = append(b, contextsVersion)
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for _, c := range cs {
		b = appendStr(b, c.Tag)
		var flags uint64
		if c.UID {
			flags |= ctxFlagUID
		}
		if c.sort != nil {
			flags |= ctxFlagSorted
		}
		b = binary.AppendUvarint(b, flags)
		b = appendKey(b, c.key)
		if c.sort == nil {
			b = appendRanges(b, c.result)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(c.sort)))
		for _, s := range c.sort {
			b = appendStr(b, s.Key)
			b = binary.AppendUvarint(b, boolUvarint(s.Reverse))
		}
		b = appendRuns(b, c.result)
	}
	return b
}

func parseContexts(data []byte) ([]*Context, error) {
	if len(data) == 0 || data[0] != contextsVersion {
		return nil, fmt.Errorf("search contexts: unknown version: %w", errBadExt)
	}
	d := uvarints{b: data[1:]}
	n := d.next()
	if n > MaxContexts {
		return nil, fmt.Errorf("search contexts: %d contexts: %w", n, errBadExt)
	}
	var cs []*Context
	for i := uint64(0); i < n && d.err == nil; i++ {
		c := &Context{Tag: d.str()}
		flags := d.next()
		c.UID = flags&ctxFlagUID != 0
		nodes := 0
		c.key = d.key(0, &nodes)
		c.onFlags = readsFlags(c.key)
		if flags&ctxFlagSorted == 0 {
			c.result = d.ranges()
		} else {
			k := d.next()
			if k > uint64(len(d.b)) {
				return nil, errBadExt
			}
			c.sort = make([]imapwire.SortCriterion, 0, k)
			for j := uint64(0); j < k && d.err == nil; j++ {
				c.sort = append(c.sort, imapwire.SortCriterion{Key: d.str(), Reverse: d.next() != 0})
			}
			c.result = d.runs()
		}
		if d.err != nil {
			return nil, d.err
		}
		if why := notUpdatable(c.key); why != "" {
			return nil, fmt.Errorf("search context %q: %s: %w", c.Tag, why, errBadExt)
		}
		cs = append(cs, c)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errBadExt
	}
	return cs, d.err
}

// appendKey encodes a criteria tree: op, field, value, number, date
// (Unix seconds), set (count of ranges, start and stop; 0 is "*"; a
// saved "$" set is a count of 0 with a flag), then the children.
func appendKey(b []byte, k *imapwire.SearchKey) []byte {
	b = appendStr(b, k.Op)
	b = appendStr(b, k.Field)
	b = appendStr(b, k.Value)
	b = binary.AppendUvarint(b, k.Number)
	var date int64
	if !k.Date.IsZero() {
		date = k.Date.Unix()
	}
	b = binary.AppendVarint(b, date)
	if k.Set == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, 1+boolUvarint(k.Set.Saved))
		b = binary.AppendUvarint(b, uint64(len(k.Set.Ranges)))
		for _, r := range k.Set.Ranges {
			b = binary.AppendUvarint(b, uint64(r.Start))
			b = binary.AppendUvarint(b, uint64(r.Stop))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(k.Children)))
	for _, ch := range k.Children {
		b = appendKey(b, ch)
	}
	return b
}

func (d *uvarints) key(depth int, nodes *int) *imapwire.SearchKey {
	*nodes++
	if depth > maxKeyDepth || *nodes > maxKeyNodes {
		d.err = errBadExt
	}
	if d.err != nil {
		return &imapwire.SearchKey{Op: "ALL"}
	}
	k := &imapwire.SearchKey{Op: d.str(), Field: d.str(), Value: d.str(), Number: d.next()}
	if date := d.varint(); date != 0 {
		k.Date = time.Unix(date, 0).UTC()
	}
	if set := d.next(); set > 0 {
		s := &imapwire.SeqSet{Saved: set == 2}
		n := d.next()
		if n > uint64(len(d.b)) {
			d.err = errBadExt
			return k
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			start, stop := d.next(), d.next()
			if start > 1<<32-1 || stop > 1<<32-1 {
				d.err = errBadExt
			}
			s.Ranges = append(s.Ranges, imapwire.SeqRange{Start: uint32(start), Stop: uint32(stop)})
		}
		k.Set = s
	}
	n := d.next()
	if n > uint64(len(d.b)) {
		d.err = errBadExt
		return k
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k.Children = append(k.Children, d.key(depth+1, nodes))
	}
	return k
}

// appendRuns encodes UIDs in a sort order as runs of consecutive UIDs,
// ascending or descending.
func appendRuns(b []byte, uids []uint32) []byte {
	type run struct{ first, last uint32 }
	var rs []run
	for i := 0; i < len(uids); {
		j := i + 1
		switch {
		case j < len(uids) && uids[j] == uids[i]+1:
			for j < len(uids) && uids[j] == uids[j-1]+1 {
				j++
			}
		case j < len(uids) && uids[j]+1 == uids[i]:
			for j < len(uids) && uids[j]+1 == uids[j-1] {
				j++
			}
		}
		rs = append(rs, run{uids[i], uids[j-1]})
		i = j
	}
	b = binary.AppendUvarint(b, uint64(len(rs)))
	var prev int64
	for _, r := range rs {
		b = binary.AppendVarint(b, int64(r.first)-prev)
		b = binary.AppendVarint(b, int64(r.last)-int64(r.first))
		prev = int64(r.last)
	}
	return b
}

func (d *uvarints) runs() []uint32 {
	n := d.next()
	if n > uint64(len(d.b)) {
		d.err = errBadExt
		return nil
	}
	var out []uint32
	var prev int64
	for i := uint64(0); i < n && d.err == nil; i++ {
		first := prev + d.varint()
		last := first + d.varint()
		if first < 1 || first > 1<<32-1 || last < 1 || last > 1<<32-1 || len(out)+int(max(last-first, first-last)) > 1<<24 {
			d.err = errBadExt
			return nil
		}
		step := int64(1)
		if last < first {
			step = -1
		}
		for u := first; ; u += step {
			out = append(out, uint32(u))
			if u == last {
				break
			}
		}
		prev = last
	}
	return out
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func boolUvarint(x bool) uint64 {
	if x {
		return 1
	}
	return 0
}

func (d *uvarints) str() string {
	n := d.next()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errBadExt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *uvarints) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadExt
		return 0
	}
	d.b = d.b[n:]
	return v
}
