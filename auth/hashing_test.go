package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHashingWaitsForAToken checks that a password check waits while
// every hashing token is taken, for a known user and an unknown name
// alike, and gives up when its context ends; with a token free it runs.
func TestHashingWaitsForAToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("alice:{PLAIN}secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for range cap(p.hashing) {
		p.hashing <- struct{}{}
	}
	for _, name := range []string{"alice", "nobody"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := p.Authenticate(ctx, name, "secret")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with every token taken: %v, want the context's deadline", name, err)
		}
	}
	<-p.hashing
	if user, err := p.Authenticate(context.Background(), "alice", "secret"); err != nil || user != "alice" {
		t.Errorf("with a token free: %q, %v", user, err)
	}
}
