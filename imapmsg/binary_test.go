package imapmsg

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestBinary(t *testing.T) {
	attachment := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 4)
	tests := []struct {
		file string
		part []int
		want []byte
	}{
		{"mixed.eml", []int{1}, []byte("Voil\xe0 le rapport, caf\xe9 compris.\r\nLigne tr\xe8s longue.")},
		{"mixed.eml", []int{2}, attachment},
		{"mixed.eml", []int{3}, nil},
		{"encoded.eml", []int{1}, []byte("Bient\xf4t l'\xe9t\xe9.\r\n")},
		{"plain.eml", nil, readTestdata(t, "plain.eml")},
		{"nested.eml", []int{2, 2}, []byte("<p>Inner html.</p>")},
	}
	for _, tt := range tests {
		m := parseBytes(t, readTestdata(t, tt.file))
		r, size, hasNUL, err := m.Binary(tt.part)
		if err != nil {
			t.Fatalf("%s %v: %v", tt.file, tt.part, err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tt.want) || size != int64(len(tt.want)) {
			t.Errorf("%s %v: got %q (size %d), want %q (%d)", tt.file, tt.part, got, size, tt.want, len(tt.want))
		}
		if want := bytes.IndexByte(tt.want, 0) >= 0; hasNUL != want {
			t.Errorf("%s %v: hasNUL %v, want %v", tt.file, tt.part, hasNUL, want)
		}
	}
}

func TestBinaryUnknownCTE(t *testing.T) {
	m := parseBytes(t, []byte("Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"))
	if _, _, _, err := m.Binary([]int{1}); !errors.Is(err, ErrUnknownCTE) {
		t.Fatalf("err %v, want ErrUnknownCTE", err)
	}
}

func TestBase64Lenient(t *testing.T) {
	tests := []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aGVs bG8!!", "hello"[:5]}, // garbage skipped
		{"aGk=aGk=", "hihi"},        // concatenated encodings
		{"aGVsbG", "hel" + "l"},     // truncated: the partial quantum's whole bytes
		{"", ""},
	}
	for _, tt := range tests {
		for _, one := range []bool{false, true} {
			var r io.Reader = bytes.NewReader([]byte(tt.in))
			if one {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(newBase64Reader(r, decodeBufSize))
			if err != nil || string(got) != tt.want {
				t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
			}
		}
	}
}
