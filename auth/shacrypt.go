package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ($5$ and $6$, Ulrich Drepper's "Unix crypt using SHA-256 and
// SHA-512", https://www.akkadia.org/drepper/SHA-crypt.txt) is what Dovecot
// wrote as SHA256-CRYPT and SHA512-CRYPT, its default for years; many
// existing passwd-files hold it. It is read here so that those files work,
// and never written: bcrypt and Argon2id are better.

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// The byte order in which SHA-crypt encodes the final digest, three bytes
// per four characters (the spec's b64_from_24bit calls).
var (
	sha512Order = [][3]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48},
		{28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13},
		{56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41},
	}
	sha256Order = [][3]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26},
		{27, 7, 17}, {18, 28, 8}, {9, 19, 29},
	}
)

// verifyShaCrypt checks password against a $5$ or $6$ crypt string.
func verifyShaCrypt(hashStr, password string) (bool, error) {
	got, err := shaCrypt(hashStr, password)
	if err != nil {
		return false, err
	}
	// Compare the digests only: a stored salt over 16 characters (which
	// crypt(3) ignores past 16) must not make a right password fail.
	want := hashStr[strings.LastIndexByte(hashStr, '$')+1:]
	got = got[strings.LastIndexByte(got, '$')+1:]
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1, nil
}

// shaCrypt computes the crypt string of password with the algorithm,
// rounds and salt of setting ("$6$[rounds=N$]salt[$...]").
func shaCrypt(setting, password string) (string, error) {
	var newHash func() hash.Hash
	var order [][3]int
	var prefix string
	switch {
	case strings.HasPrefix(setting, "$6$"):
		newHash, order, prefix = sha512.New, sha512Order, "$6$"
	case strings.HasPrefix(setting, "$5$"):
		newHash, order, prefix = sha256.New, sha256Order, "$5$"
	default:
		return "", errors.New("sha-crypt: not a $5$ or $6$ hash")
	}
	rest := setting[3:]
	rounds, explicitRounds := 5000, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, found := strings.Cut(r, "$")
		v, err := strconv.ParseUint(n, 10, 32)
		if !found || err != nil {
			return "", errors.New("sha-crypt: bad rounds")
		}
		// The spec clamps to [1000, 999999999]; the upper bound here also
		// keeps a crafted file from costing minutes per login.
		rounds = int(min(max(v, 1000), 999_999_999))
		if rounds > 10_000_000 {
			return "", fmt.Errorf("sha-crypt: %d rounds is too many", rounds)
		}
		explicitRounds, rest = true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > 16 {
		salt = salt[:16]
	}
	p, s := []byte(password), []byte(salt)

	h := newHash()
	size := h.Size()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)

	h.Reset()
	h.Write(p)
	h.Write(s)
	for n := len(p); n > 0; n -= size {
		h.Write(b[:min(n, size)])
	}
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	h.Reset()
	for range len(p) {
		h.Write(p)
	}
	dp := h.Sum(nil)
	pSeq := make([]byte, 0, len(p))
	for len(pSeq) < len(p) {
		pSeq = append(pSeq, dp[:min(size, len(p)-len(pSeq))]...)
	}

	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	ds := h.Sum(nil)
	sSeq := ds[:len(s)] // a salt is at most 16 bytes, shorter than any digest

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sSeq)
		}
		if i%7 != 0 {
			h.Write(pSeq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(c[:0]) // h has consumed c; reuse its array
	}

	var out strings.Builder
	out.WriteString(prefix)
	if explicitRounds {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.WriteString(salt)
	out.WriteByte('$')
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, o := range order {
		enc(c[o[0]], c[o[1]], c[o[2]], 4)
	}
	if size == 64 {
		enc(0, 0, c[63], 2)
	} else {
		enc(0, c[31], c[30], 3)
	}
	return out.String(), nil
}
