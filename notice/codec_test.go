package notice

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 17, 0, 0, 123456789, time.UTC)
	tests := []Notice{
		{User: "alice", Mailbox: "INBOX", Kind: MessagesAdded, UIDValidity: 7, HighestModSeq: 1 << 40, UIDNext: 12, Node: "127.0.0.1:1143", At: at},
		{User: "bob", Kind: SubscriptionsChanged},
		{User: "jörg", Mailbox: "Neu", OldName: "Alt", Kind: MailboxRenamed, Node: "b1"},
		{User: strings.Repeat("u", MaxUser), Mailbox: strings.Repeat("m", MaxMailbox), OldName: strings.Repeat("o", MaxMailbox), Node: strings.Repeat("n", MaxNode), Kind: 200},
	}
	for _, n := range tests {
		b, err := n.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: %v", n, err)
		}
		if len(b) > MaxSize {
			t.Errorf("%d bytes, more than MaxSize", len(b))
		}
		var got Notice
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%+v: %v", n, err)
		}
		if !got.At.Equal(n.At) {
			t.Errorf("At %v, want %v", got.At, n.At)
		}
		got.At, n.At = time.Time{}, time.Time{}
		if got != n {
			t.Errorf("got %+v, want %+v", got, n)
		}
		// Bytes a later version-1 encoder adds are skipped.
		var again Notice
		if err := again.UnmarshalBinary(append(b, 1, 2, 3)); err != nil || again.User != n.User {
			t.Errorf("with trailing bytes: %+v, %v", again, err)
		}
	}
}

func TestCodecRejects(t *testing.T) {
	good, err := Notice{User: "alice", Mailbox: "INBOX", Kind: MessagesAdded, Node: "n"}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:10]},
		{"version", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"kind 0", mod(func(b []byte) []byte { b[1] = 0; return b })},
		{"truncated name", good[:len(good)-1]},
		{"no node length", good[:len(good)-3]},
		{"name past the end", mod(func(b []byte) []byte { b[fixedSize] = 0xff; return b })},
		{"no user", mod(func(b []byte) []byte {
			nb := append([]byte(nil), b[:fixedSize]...)
			return append(nb, 0, 0, 0, 0, 0, 0, 0, 0)
		})},
		{"not UTF-8", mod(func(b []byte) []byte { b[fixedSize+2] = 0xff; return b })},
		{"too long", append(bytes.Clone(good), make([]byte, MaxSize)...)},
		{"user too long", func() []byte {
			b := append([]byte(nil), good[:fixedSize]...)
			b = append(b, 1, 0)
			b = append(b, strings.Repeat("u", 256)...)
			return append(b, 0, 0, 0, 0, 0, 0)
		}()},
	}
	for _, tc := range tests {
		n := Notice{User: "kept"}
		err := n.UnmarshalBinary(tc.b)
		if err == nil || !errors.Is(err, errNotice) {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if n.User != "kept" {
			t.Errorf("%s: notice changed on error", tc.name)
		}
	}
	for _, n := range []Notice{
		{Kind: MessagesAdded},
		{User: "a"},
		{User: "a", Kind: MessagesAdded, Mailbox: strings.Repeat("m", MaxMailbox+1)},
		{User: "a", Kind: MessagesAdded, Node: "\xff"},
	} {
		if _, err := n.MarshalBinary(); err == nil {
			t.Errorf("MarshalBinary(%+v) succeeded", n)
		}
	}
}

// FuzzUnmarshal checks that any input decodes within its bounds or fails,
// and that what decodes encodes back to the same leading bytes.
func FuzzUnmarshal(f *testing.F) {
	for _, n := range []Notice{
		{User: "alice", Mailbox: "INBOX", Kind: MessagesAdded, UIDValidity: 1, HighestModSeq: 9, UIDNext: 4, Node: "b1", At: time.Unix(0, 1)},
		{User: "bob", Mailbox: "New", OldName: "Old", Kind: MailboxRenamed},
	} {
		b, err := n.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var n Notice
		if err := n.UnmarshalBinary(b); err != nil {
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("decoded an invalid notice: %v", err)
		}
		out, err := n.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.HasPrefix(b, out) {
			t.Fatalf("re-encoded %x is not a prefix of %x", out, b)
		}
	})
}
