package hibernate

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// typicalState is the common case: a phone idling on its INBOX.
func typicalState() State {
	return State{
		User:          "alice@example.org",
		Mailbox:       "INBOX",
		UIDValidity:   1764300000,
		UIDs:          []UIDRange{{1, 4711}},
		Messages:      4711,
		HighestModSeq: 91234,
		UIDNext:       4712,
		Enabled:       ExtCondStore,
		IdleTag:       "A0042",
	}
}

func stateCases() []struct {
	name string
	s    State
} {
	return []struct {
		name string
		s    State
	}{
		{"typical", typicalState()},
		{"empty mailbox", State{User: "bob", Mailbox: "INBOX", UIDValidity: 1, UIDNext: 1, IdleTag: "x"}},
		{"two ranges, read-only, TLS, all extensions", State{
			User: "carol@example.org", Mailbox: "Archive/2026", ReadOnly: true, TLS: true,
			UIDValidity: 4294967295, UIDs: []UIDRange{{3, 900}, {905, 905}},
			Messages: 899, HighestModSeq: 1<<64 - 1, UIDNext: 4000,
			Enabled: ExtCondStore | ExtQResync | ExtUTF8Accept | ExtIMAP4rev2, IdleTag: "tag.with.dots",
		}},
		{"adjacent ranges and unknown extension bits", State{
			User: "d", Mailbox: "Входящие", UIDValidity: 7, UIDs: []UIDRange{{1, 1}, {2, 2}, {10, 4294967294}},
			Messages: 4294967287, UIDNext: 4294967295, Enabled: 1 << 31, IdleTag: "",
		}},
		{"authenticated only, between commands", State{User: "f", TLS: true, Enabled: ExtIMAP4rev2}},
		{"authenticated only, in IDLE", State{User: "g", IdleTag: "i1"}},
		{"extension state", State{
			User: "e", Mailbox: "INBOX", UIDValidity: 9, UIDs: []UIDRange{{5, 6}}, Messages: 2, UIDNext: 8,
			ExtState: []ExtState{{Kind: 0, Data: []byte("searchres")}, {Kind: 1}, {Kind: 4294967295, Data: []byte{0, 1, 2}}},
		}},
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, tc := range stateCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.s.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			var got State
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary(%x): %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.s) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.s)
			}
			if m, err := HighestModSeqOf(b); err != nil || m != tc.s.HighestModSeq {
				t.Fatalf("HighestModSeqOf = %d, %v; want %d", m, err, tc.s.HighestModSeq)
			}
			if _, err := HighestModSeqOf(b[:1]); err == nil {
				t.Fatal("HighestModSeqOf of a truncated blob: no error")
			}
			// AppendBinary appends, leaving the prefix alone.
			prefix := []byte("keep")
			b2, err := tc.s.AppendBinary(prefix)
			if err != nil || !bytes.Equal(b2[:4], prefix) || !bytes.Equal(b2[4:], b) {
				t.Fatalf("AppendBinary = %x, %v; want keep+%x", b2, err, b)
			}
		})
	}
}

// TestStateSize pins the size of the typical blob: it is stored inline in
// a table entry, so growing it past inlineBlob moves every sleeping phone
// into the arena.
func TestStateSize(t *testing.T) {
	s := typicalState()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical blob: %d bytes: %x", len(b), b)
	if len(b) > 48 {
		t.Errorf("typical blob is %d bytes, want at most 48", len(b))
	}
	short, ok := elideNames(nil, b, []byte(s.User), []byte(s.Mailbox))
	if !ok || len(short) > inlineBlob {
		t.Errorf("typical blob without its names: %d bytes (%v), does not fit inline (%d)", len(short), ok, inlineBlob)
	}
}

func TestStateMarshalInvalid(t *testing.T) {
	base := typicalState()
	cases := []struct {
		name string
		mod  func(*State)
	}{
		{"zero uidvalidity", func(s *State) { s.UIDValidity = 0 }},
		{"uid zero", func(s *State) { s.UIDs = []UIDRange{{0, 4}}; s.Messages = 5 }},
		{"reversed range", func(s *State) { s.UIDs = []UIDRange{{5, 4}} }},
		{"overlapping ranges", func(s *State) { s.UIDs = []UIDRange{{1, 5}, {5, 6}}; s.Messages = 7; s.UIDNext = 7 }},
		{"descending ranges", func(s *State) { s.UIDs = []UIDRange{{10, 11}, {1, 2}}; s.Messages = 4; s.UIDNext = 12 }},
		{"wrong count", func(s *State) { s.Messages = 4710 }},
		{"uidnext not above", func(s *State) { s.UIDNext = 4711 }},
		{"max uid", func(s *State) { s.UIDs = []UIDRange{{1<<32 - 1, 1<<32 - 1}}; s.Messages = 1; s.UIDNext = 1<<32 - 1 }},
		{"ext kinds not ascending", func(s *State) { s.ExtState = []ExtState{{Kind: 2}, {Kind: 2}} }},
		{"no mailbox, uidvalidity", func(s *State) { *s = State{User: "f", UIDValidity: 1} }},
		{"no mailbox, uids", func(s *State) { *s = State{User: "f", UIDs: []UIDRange{{1, 1}}, Messages: 1, UIDNext: 2} }},
		{"no mailbox, uidnext", func(s *State) { *s = State{User: "f", UIDNext: 1} }},
		{"no mailbox, read-only", func(s *State) { *s = State{User: "f", ReadOnly: true} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.mod(&s)
			if b, err := s.MarshalBinary(); err == nil {
				t.Fatalf("MarshalBinary = %x, want error", b)
			}
		})
	}
}

func TestStateUnmarshalErrors(t *testing.T) {
	s := typicalState()
	good, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Every proper prefix of a valid blob is truncated.
	for i := range good {
		var got State
		if err := got.UnmarshalBinary(good[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix of %d bytes: err = %v, want ErrTruncated", i, err)
		}
	}
	bad := func(edit func([]byte) []byte) []byte { return edit(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"version 0", bad(func(b []byte) []byte { b[0] = 0; return b }), ErrVersion},
		{"version 3", bad(func(b []byte) []byte { b[0] = 3; return b }), ErrVersion},
		// Version 2 says the State holds transport state; this one has none.
		{"version 2 without state a version-1 reader would ignore", bad(func(b []byte) []byte { b[0] = StateVersion2; return b }), ErrCorrupt},
		{"trailing byte", append(append([]byte(nil), good...), 0), ErrCorrupt},
		{"unknown flag", bad(func(b []byte) []byte { b[1] = 4; return b }), ErrCorrupt},
		{"overlong flags", append([]byte{1, 0x80, 0x00}, good[2:]...), ErrCorrupt},
		{"11-byte varint", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrCorrupt},
		{"huge string length", []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrTruncated},
		{"huge range count", []byte{1, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0x03}, ErrTruncated},
		{"zero uidvalidity", []byte{1, 0, 0, 0, 1, 'x', 0, 0, 0, 0, 0, 0}, ErrCorrupt},
		{"no mailbox, uidvalidity", []byte{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, ErrCorrupt},
		{"no mailbox, uidnext", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, ErrCorrupt},
		{"uid past 2^32", []byte{1, 0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0}, ErrCorrupt},
		{"uid gap wraps", []byte{1, 0, 0, 0, 0, 0, 1, 0, 1,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0}, ErrCorrupt},
		{"uidnext past 2^32", []byte{1, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, ErrCorrupt},
		{"ext kinds wrap", []byte{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
			5, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got State
			err := got.UnmarshalBinary(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want %v", tc.in, err, tc.want)
			}
			if !reflect.DeepEqual(got, State{}) {
				t.Fatalf("failed UnmarshalBinary changed the State: %+v", got)
			}
		})
	}
}

// FuzzStateUnmarshal checks that no input panics, and that every input
// that decodes is the one canonical encoding of its State.
func FuzzStateUnmarshal(f *testing.F) {
	for _, tc := range stateCases() {
		b, err := tc.s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s State
		if err := s.UnmarshalBinary(in); err != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x to %+v, which does not encode: %v", in, s, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("decoded %x, re-encoded %x", in, out)
		}
	})
}

func BenchmarkStateMarshal(b *testing.B) {
	s := typicalState()
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = s.AppendBinary(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "B/blob")
}

func BenchmarkStateUnmarshal(b *testing.B) {
	s := typicalState()
	buf, _ := s.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		var got State
		if err := got.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStateTransportVersion checks that a State with transport state (a
// compressed connection's window) is written as version 2, which a
// process that predates it refuses, round-trips, and that a version 1
// blob carrying transport state is refused (one State, one encoding).
func TestStateTransportVersion(t *testing.T) {
	st := State{User: "alice", Mailbox: "INBOX", UIDValidity: 7, UIDNext: 1,
		ExtState: []ExtState{{Kind: 1, Data: []byte{1}}, {Kind: ExtDeflateWindow, Data: []byte{0, 'a'}}}}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != StateVersion2 {
		t.Fatalf("version %d, want %d", b[0], StateVersion2)
	}
	var got State
	if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if m, err := HighestModSeqOf(b); err != nil || m != 0 {
		t.Errorf("HighestModSeqOf = %d, %v", m, err)
	}
	b[0] = StateVersion
	if err := got.UnmarshalBinary(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version 1 with transport state: %v, want ErrCorrupt", err)
	}
	st.ExtState = st.ExtState[:1]
	if b, _ := st.MarshalBinary(); b[0] != StateVersion {
		t.Errorf("without transport state: version %d, want %d", b[0], StateVersion)
	}
	// Kinds a version-1 reader would ignore (a search context, NOTIFY's
	// groups) raise the version too.
	for _, kind := range []uint32{extKnownToV1 + 1, ExtSession} {
		st.ExtState = []ExtState{{Kind: kind, Data: []byte{1}}}
		if b, _ := st.MarshalBinary(); b[0] != StateVersion2 {
			t.Errorf("with kind %d: version %d, want %d", kind, b[0], StateVersion2)
		}
	}
}
