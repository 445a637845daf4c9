package imapview

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// TestContextsStateRoundTrip: live search contexts go into the state
// blob and come back the same (criteria, sort keys, result in order),
// the results as ranges: a SEARCH of 10,000 messages and an ARRIVAL
// (and REVERSE ARRIVAL) SORT of as many cost a few bytes more than an
// empty one (the criteria tree here takes about 100).
func TestContextsStateRoundTrip(t *testing.T) {
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	many := make([]uint32, 10000)
	for i := range many {
		many[i] = uint32(i + 1)
	}
	reversed := slices.Clone(many)
	slices.Reverse(reversed)
	key := &imapwire.SearchKey{Op: "AND", Children: []*imapwire.SearchKey{
		{Op: "UNSEEN"},
		{Op: "OR", Children: []*imapwire.SearchKey{{Op: "KEYWORD", Field: "$Junk"}, {Op: "SINCE", Date: day}}},
		{Op: "NOT", Children: []*imapwire.SearchKey{{Op: "UID", Set: &imapwire.SeqSet{Ranges: []imapwire.SeqRange{{Start: 3, Stop: 7}}}}}},
		{Op: "LARGER", Number: 100},
	}}
	tests := []struct {
		name    string
		uid     bool
		sort    []imapwire.SortCriterion
		result  []uint32
		maxSize int
	}{
		{"search, by UID, none", true, nil, []uint32{}, 115},
		{"search, by number, holes", false, nil, []uint32{1, 2, 5, 9, 10, 11}, 120},
		{"search, 10,000", true, nil, many, 120},
		{"sort, arrival", true, []imapwire.SortCriterion{{Key: "ARRIVAL"}}, many, 130},
		{"sort, reverse arrival", true, []imapwire.SortCriterion{{Key: "ARRIVAL", Reverse: true}}, reversed, 130},
		{"sort, size then arrival, scattered", false, []imapwire.SortCriterion{{Key: "SIZE", Reverse: true}, {Key: "ARRIVAL"}}, []uint32{9, 2, 3, 4, 1, 8, 7, 6}, 140},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewContext("A1", tt.uid, key, tt.sort, tt.result)
			if err != nil {
				t.Fatal(err)
			}
			v := &View{UIDValidity: 1, UIDNext: 10001, asleep: true}
			if err := v.AddContext(c); err != nil {
				t.Fatal(err)
			}
			var st hibernate.State
			v.Export(&st)
			data := st.ExtState[0].Data
			if len(data) > tt.maxSize {
				t.Errorf("contexts take %d bytes, want ≤ %d", len(data), tt.maxSize)
			}
			back, err := FromState(&st)
			if err != nil {
				t.Fatal(err)
			}
			if len(back.contexts) != 1 {
				t.Fatalf("%d contexts back", len(back.contexts))
			}
			b := back.contexts[0]
			if b.Tag != "A1" || b.UID != tt.uid || !slices.Equal(b.result, tt.result) || !slices.Equal(b.sort, tt.sort) {
				t.Fatalf("back: %+v, want result %v", b, tt.result)
			}
			// The criteria match as before.
			for _, m := range []mailstore.Message{
				{UID: 1, Size: 200, InternalDate: mailstore.Timestamp(day.UnixNano())},
				{UID: 4, Size: 200, InternalDate: mailstore.Timestamp(day.UnixNano())},
				{UID: 8, Size: 200, Flags: []string{"$junk"}},
				{UID: 9, Size: 200, Flags: []string{`\Seen`}},
			} {
				if got, _ := matchKey(b.key, &m, false); got != func() bool { w, _ := matchKey(c.key, &m, false); return w }() {
					t.Errorf("UID %d: matches %v after the round trip, not before", m.UID, got)
				}
			}
			if m, _ := matchKey(c.key, &mailstore.Message{UID: 1, Size: 200, Flags: []string{"$Junk"}}, false); !m {
				t.Error("criteria evaluated wrongly")
			}
			if m, _ := matchKey(c.key, &mailstore.Message{UID: 4, Size: 200, Flags: []string{"$Junk"}}, false); m {
				t.Error("criteria evaluated wrongly")
			}
		})
	}
}

// TestContextsStateHostile: a blob from elsewhere (an upgrade hands
// them over) is checked: an unknown version, truncations, too many
// contexts, criteria no context may have (or no search has), a deep
// tree, and a huge range are errors, never a panic or a giant
// allocation.
func TestContextsStateHostile(t *testing.T) {
	c, _ := NewContext("A1", true, &imapwire.SearchKey{Op: "UNSEEN"}, []imapwire.SortCriterion{{Key: "SIZE"}}, []uint32{3, 1, 2})
	good := appendContexts(nil, []*Context{c})
	if _, err := parseContexts(good); err != nil {
		t.Fatal(err)
	}
	deep := &imapwire.SearchKey{Op: "UNSEEN"}
	for range maxKeyDepth + 2 {
		deep = &imapwire.SearchKey{Op: "NOT", Children: []*imapwire.SearchKey{deep}}
	}
	clock := &Context{Tag: "b", key: &imapwire.SearchKey{Op: "YOUNGER", Number: 60}, result: []uint32{}}
	many := make([]*Context, MaxContexts+1)
	for i := range many {
		many[i] = &Context{Tag: string(rune('a' + i)), key: &imapwire.SearchKey{Op: "ALL"}, result: []uint32{}}
	}
	huge := append([]byte{contextsVersion, 1, 1, 'h', 0}, appendKey(nil, &imapwire.SearchKey{Op: "ALL"})...)
	huge = append(huge, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f) // one range 1:4294967296
	cases := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"trailing":       append(slices.Clone(good), 0),
		"too many":       appendContexts(nil, many),
		"clock key":      appendContexts(nil, []*Context{clock}),
		"unknown key":    appendContexts(nil, []*Context{{Tag: "u", key: &imapwire.SearchKey{Op: "NONSENSE"}, result: []uint32{}}}),
		"deep":           appendContexts(nil, []*Context{{Tag: "d", key: deep, result: []uint32{}}}),
		"huge range":     huge,
		"huge sort runs": append([]byte{contextsVersion, 1, 1, 'h', 2}, append(appendKey(nil, &imapwire.SearchKey{Op: "ALL"}), 0, 1, 2, 0xfe, 0xff, 0xff, 0xff, 0x1f)...),
	}
	for i := 1; i < len(good); i++ {
		cases["cut at "+string(rune('0'+i%10))+string(rune('a'+i/10))] = good[:i]
	}
	for name, data := range cases {
		if _, err := parseContexts(data); !errors.Is(err, errBadExt) {
			t.Errorf("%s: err %v, want errBadExt", name, err)
		}
	}
}

// TestApplyContextAsleep: an asleep view applies a change to its
// contexts in place, but for a new member of a sorted context, which
// needs the other members' records: then Apply refuses before changing
// anything, and the sleeper is woken.
func TestApplyContextAsleep(t *testing.T) {
	st := &hibernate.State{Mailbox: "INBOX", UIDValidity: 1, UIDs: []hibernate.UIDRange{{First: 1, Last: 3}}, Messages: 3, HighestModSeq: 3, UIDNext: 4}
	v, err := FromState(st)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewContext("s", true, &imapwire.SearchKey{Op: "UNSEEN"}, nil, []uint32{1, 2, 3})
	o, _ := NewContext("o", false, &imapwire.SearchKey{Op: "UNSEEN"}, []imapwire.SortCriterion{{Key: "ARRIVAL", Reverse: true}}, []uint32{3, 2, 1})
	for _, c := range []*Context{s, o} {
		if err := v.AddContext(c); err != nil {
			t.Fatal(err)
		}
	}
	up, err := v.Apply(mailstore.Changes{UIDValidity: 1, UIDNext: 4, HighestModSeq: 5,
		Changed: []mailstore.Message{{UID: 2, ModSeq: 4, Flags: []string{`\Seen`}}}, Expunged: []uint32{3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ContextUpdate{
		{Tag: "s", UID: true, Expunged: []Position{{0, 3}}, Removed: []Position{{0, 2}}},
		{Tag: "o", Expunged: []Position{{1, 3}}, Removed: []Position{{1, 2}}},
	}
	if !slices.EqualFunc(up.Contexts, want, func(a, b ContextUpdate) bool {
		return a.Tag == b.Tag && a.UID == b.UID && slices.Equal(a.Expunged, b.Expunged) && slices.Equal(a.Removed, b.Removed) && slices.Equal(a.Added, b.Added)
	}) {
		t.Fatalf("updates %+v, want %+v", up.Contexts, want)
	}
	before := v.HighestModSeq
	_, err = v.Apply(mailstore.Changes{UIDValidity: 1, UIDNext: 5, HighestModSeq: 6,
		Changed: []mailstore.Message{{UID: 4, ModSeq: 6}}}, nil)
	if !errors.Is(err, errNeedsEval) || v.HighestModSeq != before || v.Len() != 2 {
		t.Fatalf("a new member of a sorted context asleep: err %v, view at %d with %d messages", err, v.HighestModSeq, v.Len())
	}
}

// TestMatchKeyThreeValued: a record decides what it can; where content
// keys (FROM, BODY...) decide, the answer is unknown and an asleep view
// is woken, unless the record's part decides alone (a seen message never
// matches UNSEEN FROM x).
func TestMatchKeyThreeValued(t *testing.T) {
	from := &imapwire.SearchKey{Op: "FROM", Value: "x"}
	seen := mailstore.Message{UID: 1, Flags: []string{`\Seen`}}
	unseen := mailstore.Message{UID: 1}
	and := func(ks ...*imapwire.SearchKey) *imapwire.SearchKey {
		return &imapwire.SearchKey{Op: "AND", Children: ks}
	}
	or := func(a, b *imapwire.SearchKey) *imapwire.SearchKey {
		return &imapwire.SearchKey{Op: "OR", Children: []*imapwire.SearchKey{a, b}}
	}
	not := func(k *imapwire.SearchKey) *imapwire.SearchKey {
		return &imapwire.SearchKey{Op: "NOT", Children: []*imapwire.SearchKey{k}}
	}
	tests := []struct {
		name         string
		key          *imapwire.SearchKey
		m            mailstore.Message
		match, known bool
	}{
		{"UNSEEN FROM, seen", and(&imapwire.SearchKey{Op: "UNSEEN"}, from), seen, false, true},
		{"UNSEEN FROM, unseen", and(&imapwire.SearchKey{Op: "UNSEEN"}, from), unseen, false, false},
		{"OR SEEN FROM, seen", or(&imapwire.SearchKey{Op: "SEEN"}, from), seen, true, true},
		{"OR SEEN FROM, unseen", or(&imapwire.SearchKey{Op: "SEEN"}, from), unseen, false, false},
		{"NOT FROM", not(from), seen, false, false},
		{"NOT SEEN", not(&imapwire.SearchKey{Op: "SEEN"}), seen, false, true},
		{"UNSEEN", &imapwire.SearchKey{Op: "UNSEEN"}, unseen, true, true},
	}
	for _, tt := range tests {
		if match, known := matchKey(tt.key, &tt.m, false); match != tt.match || known != tt.known {
			t.Errorf("%s: (%v, %v), want (%v, %v)", tt.name, match, known, tt.match, tt.known)
		}
	}
}

// descending is a ContextEval that orders by UID, highest first (as
// REVERSE ARRIVAL of messages that arrived in UID order), for the tests.
type descending struct{}

func (descending) Match(c *Context, uid uint32) (bool, error) { return true, nil }
func (descending) Order(c *Context, uids []uint32) ([]uint32, error) {
	out := slices.Clone(uids)
	slices.Reverse(out)
	return out, nil
}

// TestApplyContexts: one change that expunges a member, takes one out
// (\Seen) and brings a new one in, told as RFC 5267 4.3 wants: the
// expunged one in the old numbering, the others in the new; positions 0
// for SEARCH, positions in the sort order for SORT, each valid once the
// pairs before it are applied.
func TestApplyContexts(t *testing.T) {
	snap := mailstore.Snapshot{UIDValidity: 1, UIDNext: 6, HighestModSeq: 5}
	for u := uint32(1); u <= 5; u++ {
		snap.Messages.Append([]mailstore.Message{{UID: u, ModSeq: uint64(u)}})
	}
	ch := mailstore.Changes{UIDValidity: 1, UIDNext: 7, HighestModSeq: 8, Expunged: []uint32{2},
		Changed: []mailstore.Message{{UID: 4, ModSeq: 7, Flags: []string{`\Seen`}}, {UID: 6, ModSeq: 8}}}
	unseen := &imapwire.SearchKey{Op: "UNSEEN"}
	reverse := []imapwire.SortCriterion{{Key: "ARRIVAL", Reverse: true}}
	tests := []struct {
		name   string
		uid    bool
		sort   []imapwire.SortCriterion
		result []uint32
		want   ContextUpdate
		after  []uint32
	}{
		{"search by UID", true, nil, []uint32{1, 2, 3, 4, 5},
			ContextUpdate{Expunged: []Position{{0, 2}}, Removed: []Position{{0, 4}}, Added: []Position{{0, 6}}}, []uint32{1, 3, 5, 6}},
		{"search by number", false, nil, []uint32{1, 2, 3, 4, 5},
			ContextUpdate{Expunged: []Position{{0, 2}}, Removed: []Position{{0, 3}}, Added: []Position{{0, 5}}}, []uint32{1, 3, 5, 6}},
		{"sort by number", false, reverse, []uint32{5, 4, 3, 2, 1},
			ContextUpdate{Expunged: []Position{{4, 2}}, Removed: []Position{{2, 3}}, Added: []Position{{1, 5}}}, []uint32{6, 5, 3, 1}},
		{"sort by UID, not every message", true, reverse, []uint32{5, 4, 2},
			ContextUpdate{Expunged: []Position{{3, 2}}, Removed: []Position{{2, 4}}, Added: []Position{{1, 6}}}, []uint32{6, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := New(snap, true, 0, 0)
			v.Eval = descending{}
			c, err := NewContext("x", tt.uid, unseen, tt.sort, tt.result)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.AddContext(c); err != nil {
				t.Fatal(err)
			}
			up, err := v.Apply(ch, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(up.Contexts) != 1 {
				t.Fatalf("updates %+v", up.Contexts)
			}
			got := up.Contexts[0]
			if !slices.Equal(got.Expunged, tt.want.Expunged) || !slices.Equal(got.Removed, tt.want.Removed) || !slices.Equal(got.Added, tt.want.Added) {
				t.Errorf("update %+v, want %+v", got, tt.want)
			}
			if !slices.Equal(c.result, tt.after) {
				t.Errorf("result %v, want %v", c.result, tt.after)
			}
		})
	}
}

// TestContextFlagsOnlyWhenRead: a context whose criteria read no flags
// (FROM x) is not moved by a flag change, so an asleep view applies one
// in place without asking the session; a new message it must evaluate,
// and so is woken for.
func TestContextFlagsOnlyWhenRead(t *testing.T) {
	st := &hibernate.State{Mailbox: "INBOX", UIDValidity: 1, UIDs: []hibernate.UIDRange{{First: 1, Last: 3}}, Messages: 3, HighestModSeq: 3, UIDNext: 4}
	v, err := FromState(st)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := NewContext("f", true, &imapwire.SearchKey{Op: "FROM", Value: "x"}, nil, []uint32{2})
	if err := v.AddContext(from); err != nil {
		t.Fatal(err)
	}
	up, err := v.Apply(mailstore.Changes{UIDValidity: 1, UIDNext: 4, HighestModSeq: 4,
		Changed: []mailstore.Message{{UID: 2, ModSeq: 4, Flags: []string{`\Seen`}}}}, nil)
	if err != nil || len(up.Contexts) != 0 || len(up.Changed) != 1 {
		t.Fatalf("a flag change asleep: %+v, %v", up, err)
	}
	_, err = v.Apply(mailstore.Changes{UIDValidity: 1, UIDNext: 5, HighestModSeq: 5,
		Changed: []mailstore.Message{{UID: 4, ModSeq: 5}}}, nil)
	if !errors.Is(err, errNeedsEval) {
		t.Fatalf("a new message asleep: %v, want errNeedsEval", err)
	}
}
