package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthenticateSchemes(t *testing.T) {
	bcryptHash, err := HashPassword(BlfCrypt, "secret")
	if err != nil {
		t.Fatal(err)
	}
	argonHash, err := HashPassword(Argon2ID, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bcryptHash, "{BLF-CRYPT}$2y$") {
		t.Errorf("bcrypt hash %q: want Dovecot's {BLF-CRYPT}$2y$ form", bcryptHash)
	}
	if !strings.HasPrefix(argonHash, "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$") {
		t.Errorf("argon2id hash %q: want the PHC form", argonHash)
	}
	// A hash with other parameters, as libsodium's "moderate" limits write.
	const argonLowMem = "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$"
	lowKey := argonKey(t, "secret", "somesaltsomesalt", 3, 4096, 1)

	file := strings.Join([]string{
		"# a comment",
		"",
		"bc:" + bcryptHash,
		"bc2:" + strings.Replace(bcryptHash, "{BLF-CRYPT}", "{BCRYPT}", 1) + ":1000:1000::/home/bc2::",
		"ar:" + argonHash + "::::::",
		"ar2:" + argonLowMem + lowKey,
		"pl:{PLAIN}secret",
		"ct:{CLEARTEXT}secret",
		"bad:{MD5}0123",
		"noscheme:secret",
	}, "\n") + "\n"
	pf, err := Open(writeFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pass string
		ok         bool
		badCreds   bool // want ErrBadCredentials, not another error
	}{
		{"bc", "secret", true, false},
		{"bc", "Secret", false, true},
		{"bc2", "secret", true, false},
		{"ar", "secret", true, false},
		{"ar", "secret2", false, true},
		{"ar2", "secret", true, false},
		{"pl", "secret", true, false},
		{"pl", "secre", false, true},
		{"ct", "secret", true, false},
		{"nobody", "secret", false, true},
		{"", "", false, true},
		{"bad", "x", false, false},
		{"noscheme", "secret", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pass, func(t *testing.T) {
			got, err := pf.Authenticate(context.Background(), tt.user, tt.pass)
			if tt.ok {
				if err != nil || got != tt.user {
					t.Fatalf("Authenticate = %q, %v; want %q, nil", got, err, tt.user)
				}
				return
			}
			if err == nil {
				t.Fatalf("Authenticate = %q, nil; want an error", got)
			}
			if errors.Is(err, ErrBadCredentials) != tt.badCreds {
				t.Fatalf("Authenticate error %v: ErrBadCredentials=%v, want %v", err, !tt.badCreds, tt.badCreds)
			}
		})
	}
}

func TestDovecotBcrypt(t *testing.T) {
	h, err := HashPassword(BlfCrypt, "secret")
	if err != nil {
		t.Fatal(err)
	}
	// Go's bcrypt and Dovecot's both read $2a$ and $2y$ alike.
	for _, field := range []string{h, strings.Replace(h, "$2y$", "$2a$", 1), strings.Replace(h, "$2y$", "$2b$", 1)} {
		ok, err := verify(field, "secret")
		if err != nil || !ok {
			t.Errorf("verify(%q) = %v, %v", field, ok, err)
		}
	}
}

func TestManageUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	ctx := context.Background()
	if err := AddUser(path, "alice", "a-pass"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	pf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.Authenticate(ctx, "alice", "a-pass"); err != nil {
		t.Fatal(err)
	}
	// Users added after Open are seen without reopening.
	if err := AddUser(path, "bob@example.org", "b-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.Authenticate(ctx, "bob@example.org", "b-pass"); err != nil {
		t.Fatalf("new user after reload: %v", err)
	}
	if err := AddUser(path, "alice", "x"); !errors.Is(err, ErrUserExists) {
		t.Errorf("AddUser twice: %v, want ErrUserExists", err)
	}
	if err := SetPassword(path, "alice", "new-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.Authenticate(ctx, "alice", "a-pass"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after SetPassword: %v", err)
	}
	if _, err := pf.Authenticate(ctx, "alice", "new-pass"); err != nil {
		t.Errorf("new password: %v", err)
	}
	names, err := List(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice", "bob@example.org"}; !slices.Equal(names, want) {
		t.Errorf("List = %q, want %q", names, want)
	}
	if err := DeleteUser(path, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteUser(path, "alice"); !errors.Is(err, ErrNoUser) {
		t.Errorf("DeleteUser twice: %v, want ErrNoUser", err)
	}
	if err := SetPassword(path, "alice", "x"); !errors.Is(err, ErrNoUser) {
		t.Errorf("SetPassword of deleted user: %v, want ErrNoUser", err)
	}
	if _, err := pf.Authenticate(ctx, "alice", "new-pass"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("deleted user: %v", err)
	}
}

func TestEditKeepsOtherLines(t *testing.T) {
	const orig = "# users\n\ncarol:{PLAIN}c:1000:1000::/home/carol::\n"
	path := writeFile(t, orig)
	if err := AddUser(path, "dave", "d"); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "carol", "c2"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if lines[0] != "# users" || lines[1] != "" {
		t.Errorf("comment and blank not kept: %q", data)
	}
	if !strings.HasPrefix(lines[2], "carol:{BLF-CRYPT}$2y$") || !strings.HasSuffix(lines[2], ":1000:1000::/home/carol::") {
		t.Errorf("carol's line = %q; want new hash, extra fields kept", lines[2])
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"alice", "bob@example.org", "first.last", "ü-ser", "a+b"} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
		if err := AddUser(filepath.Join(t.TempDir(), "p"), name, "x"); err != nil {
			t.Errorf("AddUser(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a/b", "a:b", "a\nb", "a\x00b", "a b", "../x", "a..b", "#x", "a\\b", ".hidden", strings.Repeat("x", 256)} {
		if err := ValidName(name); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) = %v, want ErrBadName", name, err)
		}
		if err := AddUser(filepath.Join(t.TempDir(), "p"), name, "x"); !errors.Is(err, ErrBadName) {
			t.Errorf("AddUser(%q) = %v, want ErrBadName", name, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
	if _, err := Open(writeFile(t, "no-colon-here\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Open of a bad file: %v, want an error naming line 1", err)
	}
}

func TestArgon2idRejectsHugeParameters(t *testing.T) {
	ok, err := verify("{ARGON2ID}$argon2id$v=19$m=99999999,t=3,p=1$c2FsdHNhbHQ$AAAA", "x")
	if ok || err == nil {
		t.Errorf("verify with m=99999999 = %v, %v; want an error", ok, err)
	}
}
