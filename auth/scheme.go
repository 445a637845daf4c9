package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Scheme names a password hashing scheme as Dovecot writes it in braces.
type Scheme string

// Schemes that can be written. PLAIN and CLEARTEXT are only read.
const (
	BlfCrypt Scheme = "BLF-CRYPT"
	Argon2ID Scheme = "ARGON2ID"
)

// DefaultScheme is what AddUser and SetPassword write.
const DefaultScheme = BlfCrypt

// bcryptCost is bcrypt's work factor for new hashes (Dovecot's default is
// 5, bcrypt's own 10; 10 is still fast enough for a login).
const bcryptCost = 10

// Argon2id parameters for new hashes: libsodium's "interactive" limits,
// which are what Dovecot's ARGON2ID writes by default.
const (
	argonTime    = 2
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// dummyHash is checked for unknown users so that they take as long as
// known ones.
// It is made on first use, not at start-up, to keep start-up fast.
var dummyHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("dormouse-dummy"), bcryptCost)
	if err != nil {
		panic(err) // only fails for a cost out of range
	}
	return "{BLF-CRYPT}" + string(h)
})

// HashPassword hashes password with scheme and returns "{SCHEME}hash" as it
// goes into a passwd-file.
func HashPassword(scheme Scheme, password string) (string, error) {
	switch Scheme(strings.ToUpper(string(scheme))) {
	case BlfCrypt, "BCRYPT":
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
		if err != nil {
			return "", fmt.Errorf("hash password: %w", err)
		}
		// Go writes $2a$; Dovecot (libxcrypt) writes $2y$. The two are the
		// same algorithm for a correct implementation, and both read either.
		if strings.HasPrefix(string(h), "$2a$") {
			h = append([]byte("$2y$"), h[4:]...)
		}
		return "{BLF-CRYPT}" + string(h), nil
	case Argon2ID:
		salt := make([]byte, argonSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("argon2id salt: %w", err)
		}
		key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
		b64 := base64.RawStdEncoding
		return fmt.Sprintf("{ARGON2ID}$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
			argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
	default:
		return "", fmt.Errorf("scheme %q cannot be written", scheme)
	}
}

// verify checks password against a "{SCHEME}hash" field. It returns false
// without error for a wrong password and an error for a field it cannot
// read.
func verify(field, password string) (bool, error) {
	scheme, hash, ok := splitScheme(field)
	if !ok {
		return false, errors.New("password field has no {SCHEME}")
	}
	switch scheme {
	case "BLF-CRYPT", "BCRYPT":
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("bcrypt hash: %w", err)
		}
		return true, nil
	case "ARGON2ID":
		return verifyArgon2id(hash, password)
	case "SHA512-CRYPT", "SHA256-CRYPT", "CRYPT":
		// Dovecot's CRYPT is libc crypt(3); of its forms only SHA-crypt
		// is read (DES and MD5 crypt are too weak to keep supporting).
		return verifyShaCrypt(hash, password)
	case "PLAIN", "CLEARTEXT":
		return subtle.ConstantTimeCompare([]byte(hash), []byte(password)) == 1, nil
	default:
		return false, fmt.Errorf("unsupported scheme %q", scheme)
	}
}

func splitScheme(field string) (scheme, hash string, ok bool) {
	if !strings.HasPrefix(field, "{") {
		return "", "", false
	}
	end := strings.IndexByte(field, '}')
	if end < 0 {
		return "", "", false
	}
	return strings.ToUpper(field[1:end]), field[end+1:], true
}

// verifyArgon2id checks the PHC string form libsodium and Dovecot write:
// $argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>, base64 without padding.
func verifyArgon2id(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errors.New("argon2id hash: not in $argon2id$v=..$m=..,t=..,p=..$salt$hash form")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, fmt.Errorf("argon2id hash: unsupported version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return false, fmt.Errorf("argon2id hash: parameter %q: %w", kv, err)
		}
		switch k {
		case "m":
			m = uint32(n)
		case "t":
			t = uint32(n)
		case "p":
			if n > 255 {
				return false, fmt.Errorf("argon2id hash: parameter %q out of range", kv)
			}
			p = uint8(n)
		default:
			return false, fmt.Errorf("argon2id hash: unknown parameter %q", k)
		}
	}
	// Refuse parameters that would let a crafted file exhaust memory or CPU.
	if m == 0 || t == 0 || p == 0 || m > 4<<20 || t > 64 {
		return false, fmt.Errorf("argon2id hash: parameters m=%d,t=%d,p=%d out of range", m, t, p)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("argon2id salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("argon2id hash: bad key encoding")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
