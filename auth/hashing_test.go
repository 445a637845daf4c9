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
	for _, tt := range []struct {
		name string
		want error
	}{
		{"alice", context.DeadlineExceeded},
		{"nobody", ErrBadCredentials}, // after the wait, as if checked
	} {
		const wait = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		start := time.Now()
		_, err := p.Authenticate(ctx, tt.name, "secret")
		took := time.Since(start)
		cancel()
		if !errors.Is(err, tt.want) || took < wait {
			t.Errorf("%s with every token taken: %v after %v, want %v after %v", tt.name, err, took, tt.want, wait)
		}
	}
	<-p.hashing
	if user, err := p.Authenticate(context.Background(), "alice", "secret"); err != nil || user != "alice" {
		t.Errorf("with a token free: %q, %v", user, err)
	}
}
