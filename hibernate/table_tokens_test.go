package hibernate

import (
	"testing"
	"time"
)

// AppendTokens lists the live entries and leaves the keepalive wheel as
// it was.
func TestTableAppendTokens(t *testing.T) {
	var events []subEvent
	tb := newTestTable(&events)
	var toks []Token
	for i := range 4 {
		tok, err := tb.Insert(i, "u", "INBOX", nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	tb.Remove(toks[1])
	want := []Token{toks[0], toks[2], toks[3]}
	for range 2 { // twice: listing changes nothing
		if got := tb.AppendTokens(nil); !sameTokens(got, want) {
			t.Fatalf("AppendTokens = %v, want %v", got, want)
		}
	}
	if got := tb.AppendDueKeepalives(nil, t0.Add(2*time.Minute)); !sameTokens(got, want) {
		t.Errorf("keepalives due after AppendTokens: %v, want %v", got, want)
	}
}
