package imapresp

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLiteralSize(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {123}", 123, true},
		{"* 1 FETCH (BODY[] {0}", 0, true},
		{"a1 APPEND INBOX {5+}", 5, true},
		{"* 1 FETCH (BINARY[] ~{7}", 7, true},
		{"* 1 FETCH (FLAGS (\\Seen))", 0, false},
		{"* OK done", 0, false},
		{"* OK {x}", 0, false},
		{"{-1}", 0, false},
		{"{+5}", 0, false},
		{"{}", 0, false},
		{"}", 0, false},
		{"{99999999999999999999}", 0, false},
	}
	for _, tt := range tests {
		n, ok := LiteralSize(tt.line)
		if n != tt.n || ok != tt.ok {
			t.Errorf("LiteralSize(%q) = %d, %v; want %d, %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // responses in order
		wantErr bool     // after them
	}{
		{"lines", "* OK hi\r\na1 OK done\r\n", []string{"* OK hi", "a1 OK done"}, false},
		{"literal", "* 1 FETCH (BODY[] {4}\r\nab\r\n)\r\na OK\r\n", []string{"* 1 FETCH (BODY[] {4}\r\nab\r\n)", "a OK"}, false},
		{"two literals", "* 1 FETCH (A {1}\r\nx B {2}\r\nyz)\r\n", []string{"* 1 FETCH (A {1}\r\nx B {2}\r\nyz)"}, false},
		{"literal holding a brace line", "* 1 FETCH (BODY[] {5}\r\n{3}\r\n)\r\n", []string{"* 1 FETCH (BODY[] {5}\r\n{3}\r\n)"}, false},
		{"bare LF", "* OK hi\n", nil, true},
		{"short literal", "* 1 FETCH (BODY[] {10}\r\nab", nil, true},
		{"cut line", "* OK h", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			for _, want := range tt.want {
				got, err := Read(br)
				if err != nil || got != want {
					t.Fatalf("Read = %q, %v; want %q", got, err, want)
				}
			}
			got, err := Read(br)
			switch {
			case tt.wantErr && (err == nil || errors.Is(err, io.EOF) && got == ""):
				t.Errorf("Read = %q, %v; want a framing error", got, err)
			case !tt.wantErr && !errors.Is(err, io.EOF):
				t.Errorf("Read at the end = %q, %v; want EOF", got, err)
			}
		})
	}
}

func TestReadBounded(t *testing.T) {
	long := strings.Repeat("x", 10000)
	tests := []struct {
		name string
		in   string
		keep int
		want string
	}{
		{"all kept", "* 1 FETCH (BODY[] {2}\r\nhi)\r\n", 0, "* 1 FETCH (BODY[] {2}\r\nhi)"},
		{"line cut", "* OK " + long + "\r\n", 10, "* OK xxxxx"},
		{"small literal kept", "* 1 FETCH (BODY[] {2}\r\nhi)\r\n", 100, "* 1 FETCH (BODY[] {2}\r\nhi)"},
		{"large literal dropped", "* 1 FETCH (BODY[] {10000}\r\n" + long + " UID 7)\r\n", 100, "* 1 FETCH (BODY[] {10000}\r\n UID 7)"},
		// The announcement lies beyond what is kept and beyond bufio's
		// buffer: the literal must still be read as one.
		{"announcement past the cut", "* OK " + long + " {3}\r\n{1}\r\n", 8, "* OK xxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in + "a OK\r\n"
			br := bufio.NewReaderSize(strings.NewReader(in), 16)
			got, n, err := ReadBounded(br, tt.keep)
			if err != nil || got != tt.want || n != int64(len(tt.in)) {
				t.Fatalf("ReadBounded = %q, %d, %v; want %q, %d", got, n, err, tt.want, len(tt.in))
			}
			if next, err := Read(br); err != nil || next != "a OK" {
				t.Fatalf("next response = %q, %v; want \"a OK\"", next, err)
			}
		})
	}
}
