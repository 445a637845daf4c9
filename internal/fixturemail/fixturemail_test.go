package fixturemail

import (
	"net/mail"
	"strings"
	"testing"
	"time"
)

// TestMessage: the generator is repeatable from NewRand, every message
// parses with the headers the benchmarks rely on, one in eight is
// multipart, and sizes stay within the 64 KiB body cap.
func TestMessage(t *testing.T) {
	a, b := NewRand(), NewRand()
	multipart := 0
	for i := range 200 {
		m := Message(a, i)
		if m != Message(b, i) {
			t.Fatalf("message %d differs between two generators from NewRand", i)
		}
		msg, err := mail.ReadMessage(strings.NewReader(m))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		for _, h := range []string{"Message-ID", "Date", "From", "To", "Subject"} {
			if msg.Header.Get(h) == "" {
				t.Errorf("message %d lacks %s", i, h)
			}
		}
		if d, err := msg.Header.Date(); err != nil || !d.Equal(BaseTime.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("message %d: Date %v (%v)", i, d, err)
		}
		if strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/mixed") {
			multipart++
			if i%8 != 0 {
				t.Errorf("message %d is multipart", i)
			}
		}
		if len(m) > 64<<10*2 {
			t.Errorf("message %d: %d bytes", i, len(m))
		}
	}
	if multipart != 25 {
		t.Errorf("%d multipart messages of 200, want 25", multipart)
	}
}
