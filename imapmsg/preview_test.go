package imapmsg

import (
	"strings"
	"testing"
)

func TestPreview(t *testing.T) {
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	long := strings.Repeat("word ", 100)
	tests := []struct {
		name, msg, want string
		ok              bool
	}{
		{"plain", "Subject: x\n\nHello   there,\n\n\tfriend.\n", "Hello there, friend.", true},
		{"no body", "Subject: x\n\n", "", false},
		{"only spaces", "Subject: x\n\n  \n\t\n", "", false},
		{"quoted-printable latin-1", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me=\n br=FBl=E9e\n", "Café crème brûlée", true},
		{"base64 utf-8", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nR3LDvMOfZSBhdXMgS8O2bG4=\n", "Grüße aus Köln", true},
		{"cut at 200", "Subject: x\n\n" + long, strings.TrimSpace(long[:200]), true},
		{"html only", "Content-Type: text/html\n\n<html><head><title>T</title><style>p{color:red}</style></head><body><p>Tom &amp; Jerry</p><p>again</p><!-- hidden --></body></html>\n", "Tom & Jerry again", true},
		{"plain before html", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<b>bold</b>\n--b\nContent-Type: text/plain\n\nplain text\n--b--\n", "plain text", true},
		{"html when no plain", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--b\nContent-Type: text/html\n\n<div>see&nbsp;picture</div>\n--b--\n", "see picture", true},
		{"attachment skipped", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--b\nContent-Type: text/plain\n\nthe body\n--b--\n", "the body", true},
		{"no text", "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n", "", false},
		{"bad transfer encoding", "Content-Type: text/plain\nContent-Transfer-Encoding: x-unknown\n\nhello\n", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := crlf(tc.msg)
			m, err := Parse(strings.NewReader(s), int64(len(s)))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.Preview()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Preview() = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
			if n := len([]rune(got)); n > PreviewLength {
				t.Fatalf("preview of %d characters", n)
			}
		})
	}
}
