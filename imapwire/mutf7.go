package imapwire

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 5.1.3): printable ASCII stands for itself
// except "&", written "&-"; other characters are UTF-16BE in modified
// base64 (with "," for "/", no padding) between "&" and "-".

const mutf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var errMUTF7 = errors.New("bad modified UTF-7")

// EncodeMUTF7 encodes a UTF-8 mailbox name in modified UTF-7. Invalid
// UTF-8 is encoded as U+FFFD.
func EncodeMUTF7(s string) string {
	if plainASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	var units []uint16
	flush := func() {
		if len(units) == 0 {
			return
		}
		b.WriteByte('&')
		var acc uint32
		bits := 0
		for _, u := range units {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(mutf7Alphabet[(acc>>bits)&0x3f])
			}
		}
		if bits > 0 {
			b.WriteByte(mutf7Alphabet[(acc<<(6-bits))&0x3f])
		}
		b.WriteByte('-')
		units = units[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		units = utf16.AppendRune(units, r)
	}
	flush()
	return b.String()
}

// DecodeMUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It is
// strict, so that every name has one spelling: it refuses 8-bit and
// control bytes, unterminated or empty shifts other than "&-", shifted
// printable ASCII, adjacent shifts, nonzero padding bits and broken
// surrogate pairs.
func DecodeMUTF7(s string) (string, error) {
	if plainASCII(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	afterShift := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			afterShift = false
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errMUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 2
		if enc == "" {
			b.WriteByte('&')
			afterShift = false
			continue
		}
		if afterShift {
			return "", errMUTF7 // two shifts in a row should have been one
		}
		if err := decodeShift(&b, enc); err != nil {
			return "", err
		}
		afterShift = true
	}
	return b.String(), nil
}

// decodeShift decodes the modified base64 of one shift into b.
func decodeShift(b *strings.Builder, enc string) error {
	var acc uint32
	bits := 0
	var units []uint16
	var small [16]uint16
	units = small[:0]
	for k := 0; k < len(enc); k++ {
		v := strings.IndexByte(mutf7Alphabet, enc[k])
		if v < 0 {
			return errMUTF7
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	// Leftover bits are padding: fewer than 6 of them, all zero.
	if bits >= 6 || acc != 0 || len(units) == 0 {
		return errMUTF7
	}
	for k := 0; k < len(units); k++ {
		u := units[k]
		var r rune
		switch {
		case utf16.IsSurrogate(rune(u)):
			if u >= 0xdc00 || k+1 >= len(units) {
				return errMUTF7
			}
			r = utf16.DecodeRune(rune(u), rune(units[k+1]))
			if r == utf8.RuneError {
				return errMUTF7
			}
			k++
		default:
			r = rune(u)
			if r >= 0x20 && r <= 0x7e {
				return errMUTF7 // printable ASCII must not be shifted
			}
			if isControl(r) {
				return errMUTF7 // no mailbox name needs a control character
			}
		}
		b.WriteRune(r)
	}
	return nil
}

// isControl reports C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }
