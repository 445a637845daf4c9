package imapserver

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/dormouse/dormouse/imapwire"
)

// sortCaps are the capabilities of SORT and THREAD, advertised with the
// others (capability.go): SORT and THREAD (RFC 5256), ESORT (RFC 5267 3),
// SORT=DISPLAY (RFC 5957), THREAD=REFS (Dovecot's, from
// draft-ietf-morg-inthread) and I18NLEVEL=1 (RFC 5255 4: SORT compares
// with i;unicode-casemap, imapmsg.Casemap).
const sortCaps = "SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1"

// handleSort serves SORT and UID SORT (RFC 5256 3) with ESORT's RETURN
// options (RFC 5267 3.1), SORT=DISPLAY's keys (RFC 5957), SEARCHRES's
// SAVE (RFC 5182) and MODSEQ (RFC 7162 3.1.5). The messages are chosen by
// the same search as SEARCH; their keys come from their sort records
// (sortrec.go), not from their files.
func handleSort(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.SortArgs)
	if a == nil || a.Key == nil || len(a.Criteria) == 0 {
		return errBAD("", "Missing sort criteria")
	}
	ret, err := parseReturn(a.Return, a.Partial)
	if err != nil {
		return err
	}
	res, err := c.searchView(a.Charset, a.Key)
	if err != nil {
		return err
	}
	order, err := c.sortMessages(res.hits, a.Criteria)
	if err != nil {
		return err
	}
	nums := order
	if cmd.UID {
		nums = c.sel.view.UIDsOf(order)
	}
	if ret.save {
		c.saveReturned(order, ret)
		if !ret.min && !ret.max && !ret.all && !ret.count && ret.partial == nil {
			return nil
		}
	}
	w := c.w
	if a.Return == nil {
		w.Raw("* SORT")
		for _, n := range nums {
			w.SP().Number32(n)
		}
		if res.usesModSeq && len(nums) > 0 {
			w.Raw(" (MODSEQ ").Number(res.maxModSeq).Raw(")")
		}
		w.CRLF()
		return nil
	}
	// RFC 5267 3.1: MIN and MAX are the first and last in the sort order,
	// ALL lists the messages in that order.
	w.Raw(`* ESEARCH (TAG `).String(cmd.Tag).Raw(")")
	if cmd.UID {
		w.Raw(" UID")
	}
	if len(nums) > 0 {
		if ret.min {
			w.Raw(" MIN ").Number32(nums[0])
		}
		if ret.max {
			w.Raw(" MAX ").Number32(nums[len(nums)-1])
		}
		if ret.all {
			w.Raw(" ALL ").Raw(imapwire.FormatUIDSet(nums))
		}
	}
	// RFC 5267 4.4, RFC 9394 3.1: the range counts in the sort order.
	writePartialResult(w, ret.partial, nums)
	if ret.count {
		w.Raw(" COUNT ").Number(uint64(len(nums)))
	}
	if res.usesModSeq && len(nums) > 0 {
		w.Raw(" MODSEQ ").Number(res.maxModSeq)
	}
	w.CRLF()
	return nil
}

// sortColumn holds one sort key's values for the messages being sorted:
// numbers, or strings (in i;unicode-casemap form, so that they compare as
// octets, RFC 5051) as ranges of one buffer, which spares an allocation
// per message.
type sortColumn struct {
	ints   []int64
	text   []byte   // the strings, one after another
	ends   []uint32 // message i's string is text[starts[i]:ends[i]]
	starts []uint32
	// heads are the strings' first 16 bytes as two big-endian numbers
	// each (zeros after a shorter string): most comparisons end there,
	// without touching the strings.
	heads   [][2]uint64
	field   int // the sort record's field, for strings
	reverse bool
}

// str is message i's string.
func (col *sortColumn) str(i int32) []byte { return col.text[col.starts[i]:col.ends[i]] }

// recField is the sort record's field for a string key.
func recField(key string) (int, bool) {
	switch key {
	case "SUBJECT":
		return recSubject, true
	case "FROM":
		return recFrom, true
	case "DISPLAYFROM":
		return recDisplayFrom, true
	case "TO":
		return recTo, true
	case "DISPLAYTO":
		return recDisplayTo, true
	case "CC":
		return recCc, true
	}
	return 0, false
}

// sortMessages returns seqs (ascending) ordered by criteria (RFC 5256 3):
// each key in turn, REVERSE reversing its order, and the sequence number
// last, which REVERSE does not change. A missing field is the empty
// string and sorts first; a message without a usable Date sorts by its
// INTERNALDATE (RFC 5256 2.2).
func (c *conn) sortMessages(seqs []uint32, criteria []imapwire.SortCriterion) ([]uint32, error) {
	v := c.sel.view
	cols := make([]sortColumn, len(criteria))
	needRecs := false
	for j, k := range criteria {
		col := &cols[j]
		col.reverse = k.Reverse
		switch k.Key {
		case "ARRIVAL", "SIZE", "DATE":
			col.ints = make([]int64, len(seqs))
			for i, seq := range seqs {
				m := &v.Messages[seq-1]
				if k.Key == "SIZE" {
					col.ints[i] = m.Size
				} else {
					col.ints[i] = int64(m.InternalDate)
				}
			}
			needRecs = needRecs || k.Key == "DATE"
		default:
			col.field, _ = recField(k.Key)
			col.starts, col.ends = make([]uint32, len(seqs)), make([]uint32, len(seqs))
			col.heads = make([][2]uint64, len(seqs))
			col.text = make([]byte, 0, 24*len(seqs)) // a typical key's length
			needRecs = true
		}
	}
	if needRecs {
		err := c.sortRecs(seqs, func(i int, r *recView) {
			for j, k := range criteria {
				col := &cols[j]
				switch {
				case k.Key == "DATE":
					if r.hasDate {
						col.ints[i] = r.date
					}
				case col.starts != nil:
					f := r.fields[col.field]
					col.starts[i] = uint32(len(col.text))
					col.text = append(col.text, f...)
					col.ends[i] = uint32(len(col.text))
					var head [16]byte
					copy(head[:], f)
					col.heads[i] = [2]uint64{binary.BigEndian.Uint64(head[:8]), binary.BigEndian.Uint64(head[8:])}
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	order := make([]int32, len(seqs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		for j := range cols {
			col := &cols[j]
			var d int
			if col.starts != nil {
				hx, hy := &col.heads[x], &col.heads[y]
				if d = cmp.Compare(hx[0], hy[0]); d == 0 {
					if d = cmp.Compare(hx[1], hy[1]); d == 0 {
						d = bytes.Compare(col.str(x), col.str(y))
					}
				}
			} else {
				d = cmp.Compare(col.ints[x], col.ints[y])
			}
			if col.reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return cmp.Compare(x, y) // seqs ascend: by sequence number
	})
	out := make([]uint32, len(order))
	for i, x := range order {
		out[i] = seqs[x]
	}
	return out, nil
}
