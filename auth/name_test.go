package auth

import (
	"context"
	"errors"
	"testing"
)

// TestNamesCompareCaseInsensitively: one user however its name is
// capitalised, for adding, logging in, looking up, changing and deleting;
// a hand-written line keeps its own spelling as the mail user's name.
func TestNamesCompareCaseInsensitively(t *testing.T) {
	path := writeFile(t, "Bob:{PLAIN}bobpw\n")
	if err := AddUser(path, "alice", "alicepw"); err != nil {
		t.Fatal(err)
	}
	for _, dup := range []string{"ALICE", "Alice", "alice", "BOB", "bob"} {
		if err := AddUser(path, dup, "x"); !errors.Is(err, ErrUserExists) {
			t.Errorf("AddUser(%q): %v, want ErrUserExists", dup, err)
		}
	}
	if err := AddUser(path, "Carol", "carolpw"); err != nil {
		t.Fatal(err)
	}
	pf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login, pass, want string
	}{
		{"alice", "alicepw", "alice"},
		{"ALICE", "alicepw", "alice"},
		{"aLiCe", "alicepw", "alice"},
		{"bob", "bobpw", "Bob"},
		{"BOB", "bobpw", "Bob"},
		{"carol", "carolpw", "carol"}, // stored lower-cased
		{"CAROL", "carolpw", "carol"},
	}
	for _, tc := range tests {
		got, err := pf.Authenticate(context.Background(), tc.login, tc.pass)
		if err != nil || got != tc.want {
			t.Errorf("Authenticate(%q) = %q, %v; want %q", tc.login, got, err, tc.want)
		}
		user, ok, err := pf.LookupUser(tc.login)
		if err != nil || !ok || user != tc.want {
			t.Errorf("LookupUser(%q) = %q, %v, %v; want %q", tc.login, user, ok, err, tc.want)
		}
	}
	if _, err := pf.Authenticate(context.Background(), "ALICE", "ALICEPW"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("passwords must stay case-sensitive: %v", err)
	}
	names, err := List(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Errorf("users %q, want 3", names)
	}
	if err := SetPassword(path, "ALICE", "newpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := pf.Authenticate(context.Background(), "alice", "newpw"); err != nil {
		t.Errorf("after SetPassword(ALICE): %v", err)
	}
	if err := DeleteUser(path, "bOb"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := pf.LookupUser("Bob"); ok {
		t.Error("Bob still there after DeleteUser(bOb)")
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"alice":             "alice",
		"ALICE":             "alice",
		"Alice@Example.ORG": "alice@example.org",
		"ÄLICE":             "älice",
	} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}
