package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

func TestEnvelopeHeaders(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	a := mustAppend(t, mb, "Subject: first\r\nX-Spam: no\r\nFrom: a@example.org\r\n\r\nbody Subject: not this\r\n")
	b := mustAppend(t, mb, "From: b@example.org\nSubject: bare\n  LF\n\nbody\n") // bare LFs, as MDAs write
	c := mustAppend(t, mb, "X-Only: nothing ENVELOPE reports\r\n\r\nbody\r\n")

	want := map[uint32]string{
		a: "Subject: first\r\nFrom: a@example.org\r\n\r\n",
		b: "From: b@example.org\r\nSubject: bare\r\n  LF\r\n\r\n",
		c: "\r\n",
	}
	ask := []uint32{c, 999, a, b}
	check := func(when string) {
		t.Helper()
		got, err := h.EnvelopeHeaders(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		for i, uid := range ask {
			if w, ok := want[uid]; ok && string(got[i]) != w {
				t.Errorf("%s: uid %d: got %q, want %q", when, uid, got[i], w)
			}
			if _, ok := want[uid]; !ok && got[i] != nil {
				t.Errorf("%s: uid %d (none) got %q", when, uid, got[i])
			}
		}
	}
	check("read from the messages")

	// Kept: a changed file (which a store never does) does not show.
	var path string
	if err := h.view(func(m *mboxTx) error {
		r, _, err := m.get(a, true)
		path = filepath.Join(m.dir, "cur", r.file)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("Subject: changed\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("kept in the index")

	// An expunged message keeps its entry while its expunge is logged
	// (TestExpungedKept), for sessions not told of it yet.
	if _, _, err := mb.StoreFlags(ctx, []uint32{a}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("after expunge")
	err := h.u.view(func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		if m.envelopes.Get(u32(b)) == nil {
			t.Error("a kept envelope is gone")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExpungedKept: a message Dormouse expunges keeps, for as long as the
// expunge log holds its expunge, its record (ExpungedMessages) and its
// envelope header, read from its file at the expunge when no client had
// asked for it; the log's trim drops both.
func TestExpungedKept(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{ExpungeLogLimit: 10})
	u := testUser(t, s, "alice")
	mb := testMailbox(t, u, "INBOX")
	h := mb.(*mailboxHandle)
	first := mustAppend(t, mb, msg("first"), `\Flagged`)
	v, err := mb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expunge := func(uid uint32) {
		t.Helper()
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Expunge(ctx, []uint32{uid}); err != nil {
			t.Fatal(err)
		}
	}
	expunge(first)
	got, err := h.EnvelopeHeaders(ctx, []uint32{first})
	if err != nil || string(got[0]) != "From: a@example.org\r\nSubject: first\r\n\r\n" {
		t.Fatalf("envelope of the expunged message: %q, %v", got, err)
	}
	gone, err := h.ExpungedMessages(ctx, v.HighestModSeq)
	if err != nil || len(gone) != 1 || gone[0].UID != first || gone[0].Size != v.Messages.At(0).Size ||
		gone[0].InternalDate != v.Messages.At(0).InternalDate ||
		!reflect.DeepEqual(gone[0].Flags, []string{`\Deleted`, `\Flagged`}) {
		t.Fatalf("expunged records %+v, %v; the view had %+v", gone, err, v.Messages)
	}
	// Past the log's limit the entries go, with the log's.
	for i := range 12 {
		expunge(mustAppend(t, mb, msg(fmt.Sprint(i))))
	}
	if got, err := h.EnvelopeHeaders(ctx, []uint32{first}); err != nil || got[0] != nil {
		t.Fatalf("envelope after the log's trim: %q, %v", got, err)
	}
	if _, err := h.ExpungedMessages(ctx, v.HighestModSeq); err != nil {
		t.Fatal(err)
	}
}

// TestEnvelopeKeptAtAppend: an APPEND keeps the envelope header of a
// message with CRLF line ends in the index with its UID, so that the
// first FETCH ENVELOPE or SEARCH of a header field reads no file and
// commits nothing; a message with bare LFs (whose file differs from its
// content) or a header longer than what is captured is left to the
// first reader, which gives the same answer.
func TestEnvelopeKeptAtAppend(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	mb := testMailbox(t, testUser(t, s, "alice"), "INBOX")
	h := mb.(*mailboxHandle)
	long := "Subject: long\r\nX-Pad: " + strings.Repeat("x", maxCapturedHeader) + "\r\nFrom: l@example.org\r\n\r\nbody\r\n"
	cases := []struct {
		body, want string
		kept       bool
	}{
		{"Subject: crlf\r\nX-Spam: no\r\nFrom: a@example.org\r\n\r\nbody\r\n", "Subject: crlf\r\nFrom: a@example.org\r\n\r\n", true},
		{"\r\nno header at all\r\n", "\r\n", true},
		{"From: b@example.org\nSubject: bare\n\nbody\n", "From: b@example.org\r\nSubject: bare\r\n\r\n", false},
		{long, "Subject: long\r\nFrom: l@example.org\r\n\r\n", false},
	}
	for _, c := range cases {
		uid := mustAppend(t, mb, c.body)
		var kept []byte
		err := h.view(func(m *mboxTx) error {
			if m.envelopes != nil {
				kept = bytes.Clone(m.envelopes.Get(u32(uid)))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.kept && string(kept) != string(rune(envelopeVersion))+c.want:
			t.Errorf("uid %d: kept %q at APPEND, want %q", uid, kept, c.want)
		case !c.kept && kept != nil:
			t.Errorf("uid %d: kept %q at APPEND, want nothing", uid, kept)
		}
		got, err := h.EnvelopeHeaders(ctx, []uint32{uid})
		if err != nil {
			t.Fatal(err)
		}
		if string(got[0]) != c.want {
			t.Errorf("uid %d: EnvelopeHeaders %q, want %q", uid, got[0], c.want)
		}
	}
}

// TestArenaSized checks the arena's buffers: sized to what the caller
// said is to come (up to envelopeBufSize), envelopeBufSize when it said
// nothing, and every copy right.
func TestArenaSized(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int // the values added, in order
		told  bool  // the caller set want to their sum
		caps  []int // the buffers' capacities, in order
	}{
		{"a FETCH of a few", []int{300, 500, 200}, true, []int{1000}},
		{"unknown", []int{300, 500}, false, []int{envelopeBufSize}},
		{"more than one buffer", []int{40 << 10, 40 << 10, 1 << 10}, true, []int{envelopeBufSize, 41 << 10}},
		{"one larger than a buffer", []int{100 << 10, 10}, true, []int{100 << 10, 10}},
		{"empty values", []int{0, 0}, true, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a arena
			if tt.told {
				for _, n := range tt.sizes {
					a.expect(n)
				}
			}
			var caps []int
			var last *byte
			for i, n := range tt.sizes {
				v := bytes.Repeat([]byte{byte('a' + i)}, n)
				got := a.add(nil, v)
				if got == nil || !bytes.Equal(got, v) || cap(got) != n {
					t.Fatalf("add %d: got %d bytes (cap %d), want %d", i, len(got), cap(got), n)
				}
				if p := unsafe.SliceData(a.buf); i == 0 || p != last {
					caps = append(caps, cap(a.buf))
					last = p
				}
			}
			if !reflect.DeepEqual(caps, tt.caps) {
				t.Errorf("buffers %v, want %v", caps, tt.caps)
			}
		})
	}
}
