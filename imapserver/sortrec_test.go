package imapserver

import (
	"reflect"
	"testing"
)

// TestSortRecRoundTrip checks that a sort record decodes to what was
// encoded, field by field as asked, and that a record of another version
// or a damaged one is refused (and so derived again), never misread.
func TestSortRecRoundTrip(t *testing.T) {
	recs := []sortRec{
		{},
		{date: -5, hasDate: true},
		{date: 1136214245000000000, hasDate: true, reply: true,
			str:  [recStrings]string{"BUDGET", "ALICE", "ALICE", "BOB", "BOB", "", "<m2@x>"},
			refs: []string{"<a@x>", "<b@x>"}},
		{str: [recStrings]string{"E\u0301TE\u0301", "", "", "", "", "ZOE", ""}, refs: []string{}},
	}
	for _, r := range recs {
		b := r.encode(nil)
		all := recFields(1<<recStrings-1) | recRefs
		got, ok := decodeSortRec(b, all)
		want := r
		if want.refs == nil {
			want.refs = []string{}
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, ok)
		}
		only, ok := decodeSortRec(b, 1<<recTo)
		if !ok || only.str[recTo] != r.str[recTo] || only.str[recSubject] != "" || only.refs != nil ||
			only.date != r.date || only.reply != r.reply {
			t.Errorf("decode(To only) of %+v = %+v, %v", r, only, ok)
		}
		for n := range len(b) {
			if _, ok := decodeSortRec(b[:n], all); ok {
				t.Errorf("record of %+v cut to %d bytes decodes", r, n)
			}
		}
		old := append([]byte{sortRecVersion + 1}, b[1:]...)
		if _, ok := decodeSortRec(old, all); ok {
			t.Errorf("record of another version decodes")
		}
	}
}

// FuzzDecodeSortRec checks that any bytes decode or are refused without
// panicking, and that what decodes encodes to the same record.
func FuzzDecodeSortRec(f *testing.F) {
	f.Add((&sortRec{hasDate: true, date: 7, refs: []string{"<a@b>"}}).encode(nil))
	f.Add([]byte{sortRecVersion, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		all := recFields(1<<recStrings-1) | recRefs
		r, ok := decodeSortRec(b, all)
		if !ok {
			return
		}
		again, ok := decodeSortRec(r.encode(nil), all)
		if !ok || !reflect.DeepEqual(again, r) {
			t.Errorf("re-encoding %+v gives %+v, %v", r, again, ok)
		}
	})
}
