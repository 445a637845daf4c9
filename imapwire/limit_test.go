package imapwire

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLiteralLimitAndAllow checks what a connection before login relies
// on: a command its state refuses is answered before any of its literals
// is read (nothing held, nothing spooled), literals above the
// SetLiteralLimit are refused (synchronizing ones before the client sends
// them, non-synchronizing ones Fatally, unread), and small refused ones
// are skipped so that the next command is read.
func TestLiteralLimitAndAllow(t *testing.T) {
	refuseAppend := func(name string) error {
		if name == "APPEND" {
			return errors.New("APPEND not allowed before authentication")
		}
		return nil
	}
	big := strings.Repeat("x", 20000)
	tests := []struct {
		name     string
		in       string
		wantMsg  string // substring of the refusal
		wantCode string
		fatal    bool
		next     bool // "b NOOP" is read after the refusal
	}{
		{"sync literal over the limit", "a LOGIN {9000}\r\nb NOOP\r\n", "exceeds the limit of 8192 before authentication", "LIMIT", false, true},
		{"non-sync literal over the limit", "a LOGIN {20000+}\r\n" + big + " x\r\nb NOOP\r\n", "exceeds the limit of 8192", "LIMIT", true, false},
		{"refused APPEND, sync literal", "a APPEND INBOX {5}\r\nb NOOP\r\n", "not allowed before authentication", "", false, true},
		{"refused APPEND, small non-sync literal skipped", "a APPEND INBOX (\\Seen) {5+}\r\nhello\r\nb NOOP\r\n", "not allowed before authentication", "", false, true},
		{"refused APPEND, big non-sync literal unread", "a APPEND INBOX {20000+}\r\n" + big + "\r\nb NOOP\r\n", "not allowed before authentication", "", true, false},
		{"refused MULTIAPPEND of small non-sync literals", "a APPEND INBOX {5+}\r\nhello {5+}\r\nhello\r\nb NOOP\r\n", "not allowed before authentication", "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spool := t.TempDir()
			var conts []int64
			d := newTestDecoder(tc.in, DecoderOptions{SpoolDir: spool, SpoolAbove: 10, Allow: refuseAppend}, &conts)
			d.SetLiteralLimit(8192, "before authentication")
			_, err := d.ReadCommand()
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a CommandError", err)
			}
			if ce.Tag != "a" || ce.NO || ce.Code != tc.wantCode || !strings.Contains(ce.Msg, tc.wantMsg) || ce.Fatal != tc.fatal {
				t.Fatalf("got %+v, want tagged BAD [%s] %q, fatal %v", ce, tc.wantCode, tc.wantMsg, tc.fatal)
			}
			if len(conts) != 0 {
				t.Errorf("continuation requests %v for a refused literal", conts)
			}
			if files, _ := os.ReadDir(spool); len(files) != 0 {
				t.Errorf("spooled %d files", len(files))
			}
			if !tc.next {
				return
			}
			cmd, err := d.ReadCommand()
			if err != nil || cmd.Tag != "b" || cmd.Name != "NOOP" {
				t.Fatalf("next command: %+v, %v", cmd, err)
			}
		})
	}
}

// TestSpoolFailureKeepsConnection checks that a literal that cannot be
// spooled is read to its end and the command refused with NO and the
// cause, so that the next command is read.
func TestSpoolFailureKeepsConnection(t *testing.T) {
	msg := strings.Repeat("y", 3000)
	in := "a APPEND INBOX {3000+}\r\n" + msg + "\r\nb NOOP\r\n"
	missing := filepath.Join(t.TempDir(), "missing")
	d := newTestDecoder(in, DecoderOptions{SpoolDir: missing, SpoolAbove: 100}, nil)
	_, err := d.ReadCommand()
	var ce *CommandError
	if !errors.As(err, &ce) || !ce.NO || ce.Fatal || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want NO wrapping the spool error", err)
	}
	cmd, err := d.ReadCommand()
	if err != nil || cmd.Tag != "b" {
		t.Fatalf("next command: %+v, %v", cmd, err)
	}
}
