package imapmsg

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// deepMessage nests n multiparts, each with its own boundary, around one
// text part.
func deepMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Subject: deep\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ncore\r\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// TestDeepNesting checks that nesting beyond maxDepth is opaque: the
// structure stops at the cap and stays well-formed.
func TestDeepNesting(t *testing.T) {
	m := parseBytes(t, deepMessage(500))
	bs := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, true) })
	if strings.Count(bs, "(") != strings.Count(bs, ")") {
		t.Fatalf("unbalanced BODYSTRUCTURE")
	}
	// maxDepth levels are parsed; the next is an opaque multipart,
	// reported with one empty part.
	if got := strings.Count(bs, `"mixed"`); got != maxDepth+1 {
		t.Errorf("%d multiparts reported, want %d", got, maxDepth+1)
	}
	if !m.BodyContains("core") {
		t.Error("text inside the opaque part not searched")
	}
	// A shallow one is fully parsed.
	m = parseBytes(t, deepMessage(10))
	path := make([]int, 10) // root is the first multipart
	for i := range path {
		path[i] = 1
	}
	r, err := m.Section(&imapwire.Section{Part: path})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "core" {
		t.Errorf("deepest part %q", b)
	}
}

// TestManyParts checks that a flood of boundaries does not make a part
// each beyond maxParts.
func TestManyParts(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=x\r\n\r\n" + strings.Repeat("--x\r\n\r\na\r\n", maxParts+50) + "--x--\r\n"
	m := parseBytes(t, []byte(msg))
	if n := len(m.root.children); n > maxParts {
		t.Errorf("%d parts", n)
	}
}

// FuzzParse checks that any input parses without panic into a structure
// whose offsets lie within the message and whose BODYSTRUCTURE is
// balanced.
func FuzzParse(f *testing.F) {
	for _, tt := range structureTests {
		f.Add(readTestdata(f, tt.file))
	}
	f.Add(deepMessage(5))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var check func(p *part)
		check = func(p *part) {
			if p.start < 0 || p.start > p.bodyStart || p.bodyStart > p.end || p.end > int64(len(b)) || p.bodyLFs > p.endLFs {
				t.Fatalf("bad offsets %d %d %d", p.start, p.bodyStart, p.end)
			}
			for _, c := range p.children {
				check(c)
			}
			if p.msg != nil {
				check(p.msg)
			}
		}
		check(m.root)
		bs := render(func(w *imapwire.Writer) { m.WriteBodyStructure(w, true) })
		env := render(m.WriteEnvelope)
		_ = env
		if bytes.IndexByte(b, '{') < 0 && bytes.IndexByte(b, '"') < 0 && bytes.IndexByte(b, '(') < 0 && bytes.IndexByte(b, ')') < 0 &&
			strings.Count(bs, "(") != strings.Count(bs, ")") {
			t.Fatalf("unbalanced %s", bs)
		}
		m.BodyContains("x")
		m.HeaderContains("", "x")
		_, _, _, _ = m.Binary([]int{1})
		_, _ = m.Section(&imapwire.Section{Part: []int{1, 1}, Specifier: "HEADER.FIELDS", Fields: []string{"a"}})
	})
}
