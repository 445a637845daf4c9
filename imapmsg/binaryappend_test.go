package imapmsg

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"
)

func TestStoreBinary(t *testing.T) {
	blob := make([]byte, 200) // NULs and every octet, longer than a line
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	msg := crlf("From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\nContent-Disposition: attachment\n\n") +
		string(blob) + crlf("\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n")
	out, converted, err := StoreBinary(strings.NewReader(msg), int64(len(msg)))
	if err != nil || !converted {
		t.Fatalf("StoreBinary: %v, converted %v", err, converted)
	}
	stored, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(blob)
	var lines []string
	for len(enc) > 76 {
		lines, enc = append(lines, enc[:76]), enc[76:]
	}
	lines = append(lines, enc)
	want := crlf("From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment\n\n") +
		strings.Join(lines, "\r\n") +
		crlf("\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n")
	if string(stored) != want {
		t.Fatalf("stored\n%q\nwant\n%q", stored, want)
	}
	if bytes.IndexByte(stored, 0) >= 0 {
		t.Fatal("a NUL is left")
	}
	m := parseBytes(t, stored)
	r, size, hasNUL, err := m.Binary([]int{1})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, blob) || size != int64(len(blob)) || !hasNUL {
		t.Fatalf("BINARY[1] %q (size %d, NUL %v), want the blob", got, size, hasNUL)
	}

	for _, plain := range []string{
		crlf("Subject: x\n\nno binary part\n"),
		crlf("Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: binary\n\n--b\n\nx\n--b--\n"),
	} {
		if _, converted, err := StoreBinary(strings.NewReader(plain), int64(len(plain))); err != nil || converted {
			t.Errorf("%q: converted %v, %v; want as it is", plain, converted, err)
		}
	}
}
