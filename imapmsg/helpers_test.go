package imapmsg

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// readTestdata returns a testdata message's bytes.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseBytes parses b with Parse.
func parseBytes(t testing.TB, b []byte) *Message {
	t.Helper()
	m, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// render returns what fn writes.
func render(fn func(w *imapwire.Writer)) string {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := imapwire.NewWriter(bw)
	fn(w)
	w.Flush()
	return buf.String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
