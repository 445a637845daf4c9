package auth

import (
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/argon2"
)

// argonKey returns the base64 key for password with a literal salt, as a
// foreign tool would have written it.
func argonKey(t *testing.T, password, salt string, time, memory uint32, threads uint8) string {
	t.Helper()
	return base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(password), []byte(salt), time, memory, threads, 32))
}
