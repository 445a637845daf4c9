package imapmsg

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// TestParseInMemoryMatchesReader: a message held whole (ParseHeaderBytes)
// is parsed from its bytes with the header, structure, offsets and line
// counts that parsing it through a reader gives: ENVELOPE, the header,
// BODYSTRUCTURE and every part's text are the same, for the test messages, generated ones, and lines
// longer than the parser's buffer (cut in the same pieces).
func TestParseInMemoryMatchesReader(t *testing.T) {
	var msgs [][]byte
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			msgs = append(msgs, readTestdata(t, e.Name()))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 60 {
		m, _ := genMessage(rng)
		msgs = append(msgs, []byte(m))
	}
	long := strings.Repeat("y", parseBufSize-1)
	for _, line := range []string{long, long + "z", long + "zz", long + long + "--b"} {
		msgs = append(msgs, []byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n"+line+"\r\n--b\r\nContent-Type: text/plain\r\n\r\n"+line+"\n--b--\r\n"))
	}
	for i, raw := range msgs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			viaReader := parseBytes(t, raw)
			inMem, err := ParseHeaderBytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			viaHeader, err := ParseHeader(bytesReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := render(inMem.WriteEnvelope), render(viaHeader.WriteEnvelope); got != want {
				t.Fatalf("ENVELOPE in memory:\n%s\nthrough a reader:\n%s", got, want)
			}
			if got, want := string(inMem.header), string(viaHeader.header); got != want {
				t.Fatalf("header in memory %.300q, through a reader %.300q", got, want)
			}
			want := render(func(w *imapwire.Writer) { viaReader.WriteBodyStructure(w, true) })
			got := render(func(w *imapwire.Writer) { inMem.WriteBodyStructure(w, true) })
			if got != want {
				t.Fatalf("BODYSTRUCTURE in memory:\n%s\nthrough a reader:\n%s", got, want)
			}
			for n := 1; n <= 4; n++ {
				sec := &imapwire.Section{Part: []int{n}}
				if got, want := sectionText(t, inMem, sec), sectionText(t, viaReader, sec); got != want {
					t.Fatalf("part %d: in memory %.200q, through a reader %.200q", n, got, want)
				}
			}
		})
	}
}

// sectionText returns section sec of m.
func sectionText(t *testing.T, m *Message, sec *imapwire.Section) string {
	t.Helper()
	r, err := m.Section(sec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
