package hibernate

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// TestEntrySize pins the entry layout: it is the bulk of the per-connection
// cost, and it must stay pointer-free (checked by TestTableNotScanned).
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got != 64 {
		t.Errorf("entry is %d bytes, want 64", got)
	}
}

// TestTableElidesNames: a blob is stored without the user and mailbox
// names its subscription already holds, so a sleeper with a long address
// still fits its entry, and AppendBlob gives back the blob as inserted.
func TestTableElidesNames(t *testing.T) {
	long := typicalState()
	long.User = "firstname.lastname@example-company.org"
	other := typicalState()
	other.User = "bob@example.org"
	// A TLS 1.3 + COMPRESS sleeper's: record state and window, in the
	// arena.
	big := typicalState()
	big.ExtState = []ExtState{{Kind: ExtDeflateWindow, Data: bytes.Repeat([]byte{3}, 120)}, {Kind: ExtTLSRecord, Data: bytes.Repeat([]byte{1}, 71)}}
	tests := []struct {
		name          string
		user, mailbox string // the subscription key given to Insert
		blob          []byte
		short         bool // stored without the names (inline when it fits)
	}{
		{"typical", "alice@example.org", "INBOX", benchBlobOf(t, typicalState()), true},
		{"long address", long.User, "INBOX", benchBlobOf(t, long), true},
		{"in the arena", "alice@example.org", "INBOX", benchBlobOf(t, big), true},
		{"names differ", "alice@example.org", "INBOX", benchBlobOf(t, other), false},
		{"not a state", "alice@example.org", "INBOX", []byte("\x01\x00\x00\x11alice@example.org"), false},
		{"empty", "alice@example.org", "INBOX", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable(TableConfig{})
			tok, err := tb.Insert(7, tt.user, tt.mailbox, tt.blob, t0)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := tb.Lookup(tok)
			if short := info.BlobLen < len(tt.blob); short != tt.short {
				t.Errorf("stored %d of %d bytes; want names left out: %v", info.BlobLen, len(tt.blob), tt.short)
			}
			if fits := len(tt.blob) <= 2*inlineBlob; tt.short && fits && info.BlobLen > inlineBlob {
				t.Errorf("stored %d of %d bytes, not inline", info.BlobLen, len(tt.blob))
			}
			if got, err := tb.AppendBlob([]byte("x"), tok); err != nil || !bytes.Equal(got, append([]byte("x"), tt.blob...)) {
				t.Errorf("AppendBlob = %q, %v; want x + %q", got, err, tt.blob)
			}
			// SetBlob stores the next state the same way.
			next := append(slices.Clone(tt.blob), 0)
			if tt.blob != nil && knownVersion(tt.blob[0]) && tt.name != "not a state" {
				s := typicalState()
				if err := s.UnmarshalBinary(tt.blob); err != nil {
					t.Fatal(err)
				}
				s.Messages, s.UIDNext, s.UIDs = s.Messages+1, s.UIDNext+1, []UIDRange{{1, s.UIDNext}}
				next = benchBlobOf(t, s)
			}
			if err := tb.SetBlob(tok, next); err != nil {
				t.Fatal(err)
			}
			if got, err := tb.AppendBlob(nil, tok); err != nil || !bytes.Equal(got, next) {
				t.Errorf("after SetBlob: AppendBlob = %q, %v; want %q", got, err, next)
			}
		})
	}
}

type subEvent struct {
	sub     bool // subscribe, else unsubscribe
	id      SubID
	user    string
	mailbox string
}

func newTestTable(events *[]subEvent) *Table {
	return NewTable(TableConfig{
		Keepalive: 2 * time.Minute,
		OnSubscribe: func(id SubID, user, mailbox string) {
			*events = append(*events, subEvent{true, id, user, mailbox})
		},
		OnUnsubscribe: func(id SubID) { *events = append(*events, subEvent{false, id, "", ""}) },
	})
}

func TestTableInsertLookupRemove(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	blobs := map[string][]byte{
		"empty":       nil,
		"inline":      bytes.Repeat([]byte("i"), inlineBlob),
		"arena small": bytes.Repeat([]byte("a"), inlineBlob+1),
		"arena large": bytes.Repeat([]byte("L"), MaxBlob),
	}
	toks := map[string]Token{}
	fd := 10
	for name, blob := range blobs {
		tok, err := tb.Insert(fd, "alice", "INBOX", blob, t0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		toks[name] = tok
		fd++
	}
	if tb.Len() != len(blobs) {
		t.Fatalf("Len = %d", tb.Len())
	}
	if len(events) != 1 || !events[0].sub || events[0].user != "alice" || events[0].mailbox != "INBOX" {
		t.Fatalf("subscription events %+v, want one subscribe", events)
	}
	for name, tok := range toks {
		got, err := tb.AppendBlob(nil, tok)
		if err != nil || !bytes.Equal(got, blobs[name]) {
			t.Errorf("%s: AppendBlob = %d bytes, %v", name, len(got), err)
		}
		info, err := tb.Lookup(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Since.Equal(t0) || !info.NextKeepalive.Equal(t0.Add(2*time.Minute)) || info.BlobLen != len(blobs[name]) {
			t.Errorf("%s: Lookup = %+v", name, info)
		}
		if byfd, ok := tb.ByFD(info.FD); !ok || byfd != tok {
			t.Errorf("%s: ByFD(%d) = %v, %v; want %v", name, info.FD, byfd, ok, tok)
		}
	}
	if _, err := tb.Insert(10, "bob", "INBOX", nil, t0); !errors.Is(err, ErrFDInUse) {
		t.Errorf("Insert of a hibernated fd = %v, want ErrFDInUse", err)
	}
	if _, err := tb.Insert(99, "bob", "INBOX", make([]byte, MaxBlob+1), t0); !errors.Is(err, ErrBlobSize) {
		t.Errorf("Insert of a huge blob = %v, want ErrBlobSize", err)
	}
	// Remove all; tokens go stale, the subscription ends once.
	for name, tok := range toks {
		if err := tb.Remove(tok); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := tb.Remove(tok); !errors.Is(err, ErrStaleToken) {
			t.Errorf("%s: second Remove = %v", name, err)
		}
		if _, err := tb.Lookup(tok); !errors.Is(err, ErrStaleToken) {
			t.Errorf("%s: Lookup after Remove = %v", name, err)
		}
	}
	if tb.Len() != 0 || len(events) != 2 || events[1].sub {
		t.Fatalf("Len %d, events %+v", tb.Len(), events)
	}
	if _, ok := tb.ByFD(10); ok {
		t.Error("ByFD finds a removed fd")
	}
	// Entries and arena slots are reused; old tokens stay stale.
	tok, err := tb.Insert(10, "alice", "INBOX", blobs["arena small"], t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range toks {
		if old == tok {
			t.Fatal("a reused entry got an old token")
		}
	}
	if len(tb.entries) != len(blobs) || len(tb.arena.class[0].free) != 0 {
		t.Errorf("entries %d, free arena slots %d: not reused", len(tb.entries), len(tb.arena.class[0].free))
	}
}

func TestTableSetBlob(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	tok, err := tb.Insert(3, "u", "INBOX", []byte("short"), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range [][]byte{bytes.Repeat([]byte("x"), 300), []byte("short again"), bytes.Repeat([]byte("y"), 100)} {
		if err := tb.SetBlob(tok, blob); err != nil {
			t.Fatal(err)
		}
		got, _ := tb.AppendBlob([]byte("p:"), tok)
		if !bytes.Equal(got, append([]byte("p:"), blob...)) {
			t.Fatalf("AppendBlob = %q, want %q", got, blob)
		}
	}
	if err := tb.SetBlob(tok+1<<32, nil); !errors.Is(err, ErrStaleToken) {
		t.Errorf("SetBlob with a wrong generation = %v", err)
	}
}

func TestTableAfterKeepalive(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	tok, err := tb.Insert(3, "u", "INBOX", []byte("blob"), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		set, want bool
		blob      []byte
	}{
		{set: true, want: true},
		{set: true, want: true, blob: bytes.Repeat([]byte("x"), 300)}, // the mark outlives a new blob
		{set: false, want: false},
	} {
		if err := tb.SetAfterKeepalive(tok, step.set); err != nil {
			t.Fatal(err)
		}
		if step.blob != nil {
			if err := tb.SetBlob(tok, step.blob); err != nil {
				t.Fatal(err)
			}
		}
		info, err := tb.Lookup(tok)
		if err != nil {
			t.Fatal(err)
		}
		if info.AfterKeepalive != step.want {
			t.Errorf("after SetAfterKeepalive(%v): AfterKeepalive = %v, want %v", step.set, info.AfterKeepalive, step.want)
		}
	}
	if err := tb.SetAfterKeepalive(tok, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.Remove(tok); err != nil {
		t.Fatal(err)
	}
	tok2, err := tb.Insert(3, "u", "INBOX", []byte("blob"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := tb.Lookup(tok2); info.AfterKeepalive {
		t.Error("a new entry in a reused slot starts marked after a keepalive")
	}
	if err := tb.SetAfterKeepalive(tok, true); !errors.Is(err, ErrStaleToken) {
		t.Errorf("SetAfterKeepalive with a stale token = %v", err)
	}
}

func TestTableWaiters(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	var inbox, other []Token
	for i := range 10 {
		mbox := "INBOX"
		if i%3 == 0 {
			mbox = "Other"
		}
		tok, err := tb.Insert(i, "alice", mbox, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		if mbox == "INBOX" {
			inbox = append(inbox, tok)
		} else {
			other = append(other, tok)
		}
	}
	sub, ok := tb.Subscriptions().Lookup("alice", "INBOX")
	if !ok || tb.Subscriptions().Waiters(sub) != len(inbox) {
		t.Fatalf("INBOX subscription %v %v, %d waiters", sub, ok, tb.Subscriptions().Waiters(sub))
	}
	got := tb.AppendWaiters(nil, sub)
	if !sameTokens(got, inbox) {
		t.Fatalf("waiters %v, want %v", got, inbox)
	}
	// Waking removes them while walking the collected list.
	for _, tok := range got[:3] {
		if err := tb.Remove(tok); err != nil {
			t.Fatal(err)
		}
	}
	// Waiters come most recent first, so the first three were the last
	// three to sleep.
	if got := tb.AppendWaiters(nil, sub); !sameTokens(got, inbox[:len(inbox)-3]) {
		t.Fatalf("after removal: %v", got)
	}
	if tb.Subscriptions().Len() != 2 {
		t.Fatalf("%d subscriptions, want 2", tb.Subscriptions().Len())
	}
	for _, tok := range tb.AppendWaiters(nil, sub) {
		tb.Remove(tok)
	}
	if _, ok := tb.Subscriptions().Lookup("alice", "INBOX"); ok || tb.Subscriptions().Len() != 1 {
		t.Fatal("empty subscription not deleted")
	}
	osub, _ := tb.Subscriptions().Lookup("alice", "Other")
	if u, m := tb.Subscriptions().Key(osub); u != "alice" || m != "Other" {
		t.Fatalf("Key = %q %q", u, m)
	}
	if got := tb.AppendWaiters(nil, osub); !sameTokens(got, other) {
		t.Fatalf("Other waiters %v, want %v", got, other)
	}
	want := []subEvent{{true, 0, "alice", "Other"}, {true, 1, "alice", "INBOX"}, {false, 1, "", ""}}
	if !slices.Equal(events, want) {
		t.Fatalf("events %+v, want %+v", events, want)
	}
}

func sameTokens(a, b []Token) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestTableKeepalives(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	var toks []Token
	for i := range 5 {
		tok, err := tb.Insert(i, "u", "INBOX", nil, t0.Add(time.Duration(i)*10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	tb.Remove(toks[4])
	steps := []struct {
		at   time.Duration
		want []Token
	}{
		{119 * time.Second, nil},
		{120 * time.Second, toks[:1]},
		{120 * time.Second, nil},
		{145 * time.Second, toks[1:3]},
		{10 * time.Minute, toks[:4]}, // a long pause reports each once
		{10*time.Minute + 1*time.Second, nil},
		{12 * time.Minute, toks[:4]},
	}
	for _, s := range steps {
		got := tb.AppendDueKeepalives(nil, t0.Add(s.at))
		if !sameTokens(got, s.want) {
			t.Fatalf("at %v: due %v, want %v", s.at, got, s.want)
		}
	}
	info, _ := tb.Lookup(toks[0])
	if want := t0.Add(14 * time.Minute); !info.NextKeepalive.Equal(want) {
		t.Fatalf("next keepalive %v, want %v", info.NextKeepalive, want)
	}
}

func TestKeepaliveWheel(t *testing.T) {
	if _, err := NewKeepalive(0, time.Minute, t0, 0); err == nil {
		t.Error("zero tick accepted")
	}
	k, err := NewKeepalive(time.Second, 10*time.Second, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.NextDue(); ok {
		t.Fatal("NextDue on an empty wheel")
	}
	// Due times beyond the horizon wrap around the wheel.
	k.Schedule(1, t0.Add(25*time.Second))
	k.Schedule(2, t0.Add(4500*time.Millisecond)) // rounds up to 5s
	k.Schedule(3, t0.Add(3*time.Second))
	k.Cancel(3)
	k.Cancel(3)
	if at, ok := k.NextDue(); !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("NextDue = %v %v", at, ok)
	}
	cases := []struct {
		at   time.Duration
		want []uint32
	}{
		{4900 * time.Millisecond, nil},
		{5 * time.Second, []uint32{2}},
		{15 * time.Second, nil}, // 1 sits in slot 3 (25 mod 11), not yet due
		{24 * time.Second, nil},
		{25 * time.Second, []uint32{1}},
	}
	for _, c := range cases {
		if got := k.AppendDue(nil, t0.Add(c.at)); !slices.Equal(got, c.want) {
			t.Fatalf("at %v: %v, want %v", c.at, got, c.want)
		}
	}
	// A time already processed is reported by the next tick.
	k.Schedule(4, t0)
	if at, _ := k.NextDue(); !at.Equal(t0.Add(26 * time.Second)) {
		t.Fatalf("NextDue for a past time = %v", at)
	}
	if got := k.AppendDue(nil, t0.Add(26*time.Second)); !slices.Equal(got, []uint32{4}) {
		t.Fatalf("past time: %v", got)
	}
}

func TestSubscriptionsRejoin(t *testing.T) {
	s := NewSubscriptions(0)
	a, created, _ := s.Join("u", "INBOX", 5)
	if !created {
		t.Fatal("first Join did not create")
	}
	b, created, _ := s.Join("u", "Sent", 5) // moves 5, freeing and reusing a's id
	if !created || a != b || s.Len() != 1 || s.Waiters(b) != 1 {
		t.Fatalf("rejoin: %v %v, %d subs", b, created, s.Len())
	}
	if _, removed := s.Leave(5); !removed {
		t.Fatal("last Leave did not remove")
	}
	if _, removed := s.Leave(5); removed {
		t.Fatal("Leave of a non-waiter removed")
	}
	if _, ok := s.Lookup("u", "INBOX"); ok {
		t.Fatal("INBOX subscription outlived its waiter")
	}
	if got := s.AppendWaiters(nil, b); len(got) != 0 {
		t.Fatalf("waiters of a deleted subscription: %v", got)
	}
}

func ExampleTable() {
	tb := NewTable(TableConfig{Keepalive: 2 * time.Minute})
	st := typicalState()
	blob, _ := st.MarshalBinary()
	tok, _ := tb.Insert(17, st.User, st.Mailbox, blob, t0)

	// A delivery to alice's INBOX: every waiter, one subscription.
	sub, _ := tb.Subscriptions().Lookup("alice@example.org", "INBOX")
	for _, w := range tb.AppendWaiters(nil, sub) {
		b, _ := tb.AppendBlob(nil, w)
		var s State
		s.UnmarshalBinary(b)
		fmt.Println(w == tok, s.User, s.Mailbox, s.UIDNext)
	}
	// Output: true alice@example.org INBOX 4712
}

// TestSubscriptionsHashChain forces two keys onto one hash, which a
// 64-bit hash makes too rare to meet by chance.
func TestSubscriptionsHashChain(t *testing.T) {
	s := NewSubscriptions(0)
	a := s.create(42, "alice", "INBOX")
	b := s.create(42, "alic", "eINBOX")
	c := s.create(42, "bob", "INBOX")
	for _, tc := range []struct {
		user, mbox string
		want       SubID
	}{{"alice", "INBOX", a}, {"alic", "eINBOX", b}, {"bob", "INBOX", c}} {
		if id, ok := s.find(42, tc.user, tc.mbox); !ok || id != tc.want {
			t.Fatalf("find(%q, %q) = %v %v, want %v", tc.user, tc.mbox, id, ok, tc.want)
		}
	}
	if _, ok := s.find(42, "carol", "INBOX"); ok {
		t.Fatal("found a key never added")
	}
	s.delete(b) // from the middle of the chain
	s.delete(c) // the head
	if id, ok := s.find(42, "alice", "INBOX"); !ok || id != a {
		t.Fatal("lost the last key of the chain")
	}
	if _, ok := s.find(42, "bob", "INBOX"); ok {
		t.Fatal("found a deleted key")
	}
	s.delete(a)
	if len(s.ids) != 0 || s.Len() != 0 {
		t.Fatalf("ids %v, Len %d after deleting all", s.ids, s.Len())
	}
}

// TestTableNotScanned checks that every per-connection array holds
// pointer-free elements, so the garbage collector allocates them noscan
// and never walks a million entries.
func TestTableNotScanned(t *testing.T) {
	for _, v := range []any{entry{}, link{}, sub{}, uint32(0), Token(0), map[uint64]uint32(nil)} {
		typ := reflect.TypeOf(v)
		if typ.Kind() == reflect.Map {
			if hasPointers(typ.Key()) || hasPointers(typ.Elem()) {
				t.Errorf("%v holds pointers", typ)
			}
			continue
		}
		if hasPointers(typ) {
			t.Errorf("%v holds pointers", typ)
		}
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

func TestArenaClasses(t *testing.T) {
	cases := []struct{ n, size int }{
		{0, 16}, {1, 16}, {16, 16}, {17, 32}, {65, 80}, {99, 112}, {256, 256}, {257, 288}, {300, 320},
		{511, 512}, {513, 576}, {4097, 4608}, {MaxBlob - 1, MaxBlob}, {MaxBlob, MaxBlob},
	}
	for _, c := range cases {
		if got := classSize(classFor(c.n)); got != c.size {
			t.Errorf("%d bytes: slot of %d, want %d", c.n, got, c.size)
		}
	}
	// A slot wastes at most 15 bytes or an eighth of its blob, and
	// classes grow.
	for n := 1; n <= MaxBlob; n++ {
		if size := classSize(classFor(n)); size < n || size-n > max(arenaStep-1, n/8) {
			t.Fatalf("%d bytes: slot of %d", n, size)
		}
	}
	for c := uint8(1); c < arenaClasses; c++ {
		if classSize(c) <= classSize(c-1) {
			t.Fatalf("class %d: %d bytes, class %d: %d", c, classSize(c), c-1, classSize(c-1))
		}
	}
	if MaxBlob != 32<<10 || classFor(MaxBlob) != arenaClasses-1 {
		t.Errorf("MaxBlob %d in class %d of %d", MaxBlob, classFor(MaxBlob), arenaClasses)
	}
}

// TestTableArenaFollowsBlobs: blobs that grow together out of one arena
// class into the next (compressed sleepers, whose kept window grows with
// every command they answer asleep) do not leave every class they passed
// through at its peak: the arena holds about what its blobs need, and
// every blob reads back as it was set, whichever moved.
func TestTableArenaFollowsBlobs(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	const n = 1000
	blob := func(i, size int) []byte {
		b := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2+1)
		return b[:size]
	}
	toks := make([]Token, n)
	for i := range toks {
		tok, err := tb.Insert(i+10, fmt.Sprintf("user%d", i), "INBOX", blob(i, 60), t0)
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = tok
	}
	// Ten rounds, each moving every blob one class up (60, 76, ... 204
	// bytes), in an order that leaves a few stragglers behind each time.
	size := 60
	for round := range 10 {
		size += 16
		for k := range toks {
			i := (k*7 + round) % n
			if err := tb.SetBlob(toks[i], blob(i, size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	need := n * classSize(classFor(size))
	if got := tb.arena.bytes(); got > 2*need {
		t.Errorf("arena holds %d bytes for %d blobs of %d bytes (%d needed)", got, n, size, need)
	}
	for i, tok := range toks {
		got, err := tb.AppendBlob(nil, tok)
		if err != nil || !bytes.Equal(got, blob(i, size)) {
			t.Fatalf("blob %d after the moves: %v, %d bytes", i, err, len(got))
		}
	}
	// Three quarters of them leave: the class they are in shrinks too.
	for _, tok := range toks[:n*3/4+1] {
		if err := tb.Remove(tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := tb.arena.bytes(); got > need/2 {
		t.Errorf("arena holds %d bytes for %d blobs after %d left", got, n/4, n*3/4+1)
	}
	for i, tok := range toks[n*3/4+1:] {
		i += n*3/4 + 1
		if got, err := tb.AppendBlob(nil, tok); err != nil || !bytes.Equal(got, blob(i, size)) {
			t.Fatalf("blob %d after the removes: %v, %d bytes", i, err, len(got))
		}
	}
}
