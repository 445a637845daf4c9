package imapmsg

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// referenceBodyContains is the plain way to answer BODY: parse the whole
// structure, decode each searched part whole (transfer encoding,
// charset), fold all of it at once and look for each needle. It shares
// the part selection and decoders with TextSearcher but none of its
// pieces, in-place reading or ASCII folding.
func referenceBodyContains(t testing.TB, raw []byte, ss []string) []bool {
	t.Helper()
	m, err := Parse(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var texts [][]byte
	walkLeaves(m.root, func(p *part) bool {
		if !p.isText() && !p.isMultipart() {
			return true
		}
		r, err := m.textReader(p)
		if err != nil {
			return true
		}
		b, _ := io.ReadAll(r) // a read error ends the part: what was read counts
		texts = append(texts, newFolder().appendFold(nil, b))
		return true
	})
	found := make([]bool, len(ss))
	for i, s := range ss {
		n := []byte(foldString(s))
		for _, text := range texts {
			found[i] = found[i] || bytes.Contains(text, n)
		}
	}
	return found
}

// referenceHeaderContains is the plain way to answer the header half of
// TEXT: each field decoded and folded whole, "name: value".
func referenceHeaderContains(m *Message, s string) bool {
	found := false
	m.eachHeaderText(func(text string) bool {
		found = strings.Contains(text, foldString(s))
		return !found
	})
	return found
}

// checkBodySearch compares TextSearcher's answers for raw, in memory
// (with and without its envelope parsed) and through a reader, cut in pieces of every size given, with the
// reference's; and the header half of TEXT (SearchHeader) with the
// plain search's.
func checkBodySearch(t testing.TB, bs *TextSearcher, raw []byte, ss []string, pieces ...int) {
	t.Helper()
	want := referenceBodyContains(t, raw, ss)
	inMem, err := ParseHeaderBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	viaReader, err := ParseHeader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	textOnly, err := ParseTextBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range append(pieces, 0) {
		bs.mt.piece = piece
		for name, m := range map[string]*Message{"in memory": inMem, "reader": viaReader, "without envelope": textOnly} {
			got := bs.Search(m, ss)
			for i := range ss {
				if got[i] != want[i] {
					t.Fatalf("%s, pieces of %d: BODY %q = %v, the plain search says %v; message:\n%.2000q",
						name, piece, ss[i], got[i], want[i], raw)
				}
				if got, want := bs.SearchHeader(m, ss[i]), referenceHeaderContains(m, ss[i]); got != want {
					t.Fatalf("%s: TEXT's header half %q = %v, the plain search says %v; message:\n%.2000q",
						name, ss[i], got, want, raw)
				}
			}
		}
	}
}

// searchWords are the words of the generated texts: ASCII, and text
// whose folding is not byte-wise lower-casing (ß, the Kelvin sign and
// long s that fold to ASCII, a ligature and full-width letters that NFKD
// takes to ASCII, Greek final sigma, a decomposed accent, Cyrillic).
var searchWords = []string{
	"budget", "Invoice", "REPORT", "meeting", "Straße", "STRASSE", "\u212Aelvin", "\u017Fun",
	"\ufb01le", "\uff21\uff22\uff23", "ΣΟΦΟΣ", "σοφος", "cafe\u0301", "café", "Привет",
	"x", "=", "--", "ü", "naïve",
}

// genText returns text of about n bytes of searchWords, with line
// breaks; or, one time in two, of ASCII words that are rarely repeated
// (a needle taken from such text is in one place, so that one wrong
// folding of the piece it is in is seen).
func genText(rng *rand.Rand, n int, eol string) string {
	var b strings.Builder
	ascii := rng.IntN(2) == 0
	for b.Len() < n {
		if ascii {
			fmt.Fprintf(&b, "Word%dZ%c", rng.IntN(1_000_000), 'a'+rng.IntN(26))
		} else {
			b.WriteString(searchWords[rng.IntN(len(searchWords))])
		}
		if rng.IntN(9) == 0 {
			b.WriteString(eol)
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// encodeBody returns text in charset cs and transfer encoding cte, and
// the text it holds: for a charset of one byte per character, text
// without the characters that charset lacks.
func encodeBody(text, cs, cte, eol string) (body, held string) {
	var cm *charmap.Charmap
	switch cs {
	case "iso-8859-1":
		cm = charmap.ISO8859_1
	case "windows-1251":
		cm = charmap.Windows1251
	}
	b := []byte(text)
	if cm != nil {
		text = strings.Map(func(r rune) rune {
			if _, ok := cm.EncodeRune(r); !ok {
				return -1
			}
			return r
		}, text)
		b, _ = cm.NewEncoder().Bytes([]byte(text))
	}
	switch cte {
	case "quoted-printable":
		var out bytes.Buffer
		w := quotedprintable.NewWriter(&out)
		w.Write(b)
		w.Close()
		return strings.ReplaceAll(out.String(), "\r\n", eol), text
	case "base64":
		enc := base64.StdEncoding.EncodeToString(b)
		var out strings.Builder
		for len(enc) > 76 {
			out.WriteString(enc[:76] + eol)
			enc = enc[76:]
		}
		out.WriteString(enc + eol)
		return out.String(), text
	}
	return string(b), text
}

// genMessage returns a message of random structure holding texts made
// by genText, and those texts (decoded) for needles.
func genMessage(rng *rand.Rand) (msg string, texts []string) {
	eol := "\r\n"
	if rng.IntN(4) == 0 {
		eol = "\n"
	}
	header := "From: Jöhn <j@example.org>" + eol + "Subject: =?utf-8?q?hidden_header_zebra?=" + eol +
		"X-Folded: first Line" + eol + "\tSecond LINE " + eol + "X-Word: " + genText(rng, 30, " ") + eol + "MIME-Version: 1.0" + eol
	texts = append(texts, "X-Folded: first Line\tSecond LINE")
	leaf := func() string {
		sizes := []int{0, 20, 300, 5000, 40000, 70000}
		text := genText(rng, sizes[rng.IntN(len(sizes))], eol)
		types := []string{"text/plain", "text/html", "application/octet-stream", "text/plain"}
		typ := types[rng.IntN(len(types))]
		charsets := []string{"", "utf-8", "us-ascii", "iso-8859-1", "windows-1251", "UTF-8"}
		cs := charsets[rng.IntN(len(charsets))]
		ctes := []string{"", "7bit", "8bit", "quoted-printable", "base64", "Quoted-Printable"}
		cte := ctes[rng.IntN(len(ctes))]
		body, text := encodeBody(text, strings.ToLower(cs), strings.ToLower(cte), eol)
		if cs == "us-ascii" && strings.ToLower(cte) != "base64" && strings.ToLower(cte) != "quoted-printable" {
			cs = "" // 8-bit text labelled US-ASCII is searched as it is, as UTF-8: fine either way
		}
		h := "Content-Type: " + typ
		if cs != "" {
			h += "; charset=" + cs
		}
		h += eol
		if cte != "" {
			h += "Content-Transfer-Encoding: " + cte + eol
		}
		texts = append(texts, text)
		return h + eol + body
	}
	var body string
	switch rng.IntN(5) {
	case 0, 1:
		body = leaf()
	case 2:
		var b strings.Builder
		b.WriteString(`Content-Type: multipart/mixed; boundary="=-b"` + eol + eol + "preamble zebra" + eol)
		for range 1 + rng.IntN(3) {
			b.WriteString("--=-b" + eol + leaf() + eol)
		}
		b.WriteString("--=-b--" + eol + "epilogue" + eol)
		body = b.String()
	case 3:
		inner := "Subject: inner" + eol + leaf()
		body = "Content-Type: message/rfc822" + eol + eol + inner
	case 4:
		// A multipart without a boundary is searched as it is.
		text := genText(rng, 2000, eol)
		texts = append(texts, text)
		body = "Content-Type: multipart/mixed" + eol + eol + text
	}
	return header + body, texts
}

// genNeedles returns needles for a message of texts: pieces of its texts
// in other cases (found, unless in a part BODY does not search), pieces
// across line breaks, and strings that are nowhere.
func genNeedles(rng *rand.Rand, texts []string) []string {
	ss := []string{"zebra", "hidden header", "x-folded: FIRST", "line\tsecond", "line second", "from: jöhn <j@", "x-word: ", "absent words", "", "STRASSE", "kelvin", "sun", "file", "abc", "σοφοσ", "café", "ПРИВЕТ"}
	for _, text := range texts {
		if text == "" {
			continue
		}
		for range 4 {
			i := rng.IntN(len(text))
			j := min(len(text), i+1+rng.IntN(30))
			s := strings.ToValidUTF8(text[i:j], "")
			switch rng.IntN(3) {
			case 0:
				s = strings.ToUpper(s)
			case 1:
				s = strings.ToLower(s)
			}
			ss = append(ss, s)
		}
	}
	return ss
}

// TestTextSearcherMatchesPlainSearch is the differential test of SEARCH
// BODY's check: over generated messages of every structure, charset and
// transfer encoding the MIME layer decodes, with LF and CRLF line ends,
// needles taken from their texts (across line breaks, in other cases,
// non-ASCII) and absent ones, TextSearcher answers as the plain search
// (referenceBodyContains) does, in memory and through a reader, with
// pieces of many sizes so that needles straddle pieces.
func TestTextSearcherMatchesPlainSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var bs TextSearcher
	n := 300
	if testing.Short() {
		n = 60
	}
	for i := range n {
		msg, texts := genMessage(rng)
		needles := genNeedles(rng, texts)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkBodySearch(t, &bs, []byte(msg), needles, 1, 7, 64, 4096)
		})
	}
}

// TestTextSearcherHeaderNotBody: BODY does not search the header, even
// for a message searched in place.
func TestTextSearcherHeaderNotBody(t *testing.T) {
	m, err := ParseHeaderBytes([]byte("Subject: the zebra\r\n\r\nplain body\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var bs TextSearcher
	if got := bs.Search(m, []string{"zebra", "PLAIN"}); got[0] || !got[1] {
		t.Errorf("BODY zebra, PLAIN = %v, want [false true]", got)
	}
}

// FuzzBodySearch compares TextSearcher with the plain search over a
// message of one part of any text, transfer encoding and charset, or
// over any bytes as a whole message, for any needle, cut in pieces of any
// size.
func FuzzBodySearch(f *testing.F) {
	f.Add([]byte("Hello Wörld, STRASSE \u212Aelvin"), "straße", uint8(0), uint8(3))
	f.Add([]byte("caf=C3=A9 au lait=\r\n soft"), "CAFÉ", uint8(1), uint8(1))
	f.Add([]byte("Y2Fmw6k="), "café", uint8(2), uint8(2))
	f.Add([]byte("na\xefve"), "NAÏVE", uint8(3), uint8(5))
	f.Add([]byte("Subject: x\r\n\r\nbody text\r\n"), "BODY", uint8(8), uint8(9))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\ncafé\n--b--\n"), "CAFÉ", uint8(8), uint8(0))
	f.Add([]byte("X: y\r\n\r\n"), "", uint8(8), uint8(0))
	f.Fuzz(func(t *testing.T, text []byte, needle string, kind, piece uint8) {
		ctes := []string{"8bit", "quoted-printable", "base64", "8bit"}
		cs := "utf-8"
		if kind&4 != 0 {
			cs = "iso-8859-1"
		}
		raw := "Content-Type: text/plain; charset=" + cs + "\r\nContent-Transfer-Encoding: " + ctes[kind&3] + "\r\n\r\n" + string(text)
		if kind&8 != 0 {
			raw = string(text) // a whole message: header, blank line and structure fuzzed too
		}
		var bs TextSearcher
		checkBodySearch(t, &bs, []byte(raw), []string{needle}, int(piece)%64+1)
	})
}

// TestFoldASCII: foldASCII lower-cases ASCII as folder does, and refuses
// text with a byte outside ASCII wherever it lies.
func TestFoldASCII(t *testing.T) {
	var all []byte
	for c := range 0x80 {
		all = append(all, byte(c))
	}
	for n := range len(all) + 1 {
		got, ok := foldASCII([]byte("kept"), all[:n])
		want := newFolder().appendFold([]byte("kept"), all[:n])
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("foldASCII of %q = %q, %v; want %q", all[:n], got, ok, want)
		}
		for i := range n {
			b := bytes.Clone(all[:n])
			b[i] = 0xC3
			if got, ok := foldASCII([]byte("kept"), b); ok || string(got) != "kept" {
				t.Fatalf("foldASCII of %q = %q, %v; want refused", b, got, ok)
			}
		}
	}
}
