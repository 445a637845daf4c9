package imapmsg

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// TestUnfoldAddressesAgrees: for every address field, long or short,
// folded anywhere, with blanks or commas at the bound, the ENVELOPE
// address list written from unfoldAddresses is the one written from the
// whole unfolded value.
func TestUnfoldAddressesAgrees(t *testing.T) {
	pad := func(n int, c string) string { return strings.Repeat(c, n) }
	bound := maxAddressBytes
	cases := map[string]string{
		"short":                  " Ann <ann@example.org>, bob@example.org \r\n",
		"1 MB folded list":       string(bigAddressHeader(25000, false, 0)[len("From: a@example.org\r\nSubject: many\r\nTo: "):]),
		"1 MB group":             string(bigAddressHeader(25000, true, 0)[len("From: a@example.org\r\nSubject: many\r\nTo: "):]),
		"blanks at the bound":    pad(bound-10, "a") + "@x" + pad(3000, " ") + "\r\n",
		"blanks then text":       pad(bound-10, "a") + "@x" + pad(3000, " ") + "b@y",
		"commas after bound":     pad(bound-1, "a") + pad(5000, ",") + "x@y",
		"only commas past":       pad(bound+5000, ","),
		"folds across bound":     pad(bound-2, "a") + "\r\n\r\n\r\n " + pad(100, "b") + "@c",
		"one huge address":       pad(2*bound, "x") + "@example.org",
		"leading folding blanks": "\r\n \t" + pad(bound, "y") + ", z@example.org",
		"exactly the bound":      pad(bound, "q"),
		"bound plus one":         pad(bound+1, "q"),
		"bound, then CRLF only":  pad(bound+1, "q") + "\r\n\r\n",
	}
	write := func(v string) string {
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		env := &envelope{}
		env.v[envTo], env.has[envTo] = v, true
		w := imapwire.NewWriter(bw)
		writeAddressField(w, env, envTo)
		bw.Flush()
		return buf.String()
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			full, short := unfold([]byte(v)), unfoldAddresses([]byte(v))
			if got, want := write(short), write(full); got != want {
				t.Fatalf("ENVELOPE addresses differ:\n got %.200q\nwant %.200q", got, want)
			}
		})
	}
}

// TestEnvelopeBigAddressKept: parsing a header with a 1 MB To: keeps about
// 64 KiB of it for the ENVELOPE, not the whole field.
func TestEnvelopeBigAddressKept(t *testing.T) {
	m := parseBytes(t, bigAddressHeader(25000, false, 0))
	if n := len(m.root.env.v[envTo]); n > maxAddressBytes+1024 {
		t.Fatalf("the envelope keeps %d bytes of a 1 MB To:", n)
	}
}

// TestEnvelopeRepeatedFields: a message with two To: and two Cc: lines
// lists the addresses of both in its ENVELOPE, as Dovecot does; of two
// Subject: lines the first wins.
func TestEnvelopeRepeatedFields(t *testing.T) {
	m := parseBytes(t, []byte("From: a@example.org\r\nSubject: first\r\nTo: b@example.org\r\n"+
		"Cc: c@example.org\r\nTo: Dee <d@example.org>\r\nSubject: second\r\nCc: e@example.org\r\n\r\nbody\r\n"))
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	m.WriteEnvelope(imapwire.NewWriter(bw))
	bw.Flush()
	got := buf.String()
	for _, want := range []string{
		`"first"`,
		`((NIL NIL "b" "example.org")("Dee" NIL "d" "example.org"))`,
		`((NIL NIL "c" "example.org")(NIL NIL "e" "example.org"))`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ENVELOPE %s: want %s", got, want)
		}
	}
	if strings.Contains(got, "second") {
		t.Errorf("ENVELOPE %s: the second Subject: won", got)
	}
}
