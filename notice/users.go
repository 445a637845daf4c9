package notice

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// UsersBucket is the JetStream KV bucket of the user → backend map that
// a proxy with route = "kv" reads: key Token(user), value the backend's
// IMAP address.
const UsersBucket = "dormouse-users"

// UserMap is the user → backend map in JetStream KV. Moving a user is one
// Set; a proxy looks users up, or keeps a copy current with Watch.
type UserMap struct {
	kv jetstream.KeyValue
}

// OpenUserMap binds to the bucket on nc, creating it with replicas copies
// (1 for a lone NATS server, 3 for a 3-node cluster) when it does not
// exist yet.
func OpenUserMap(ctx context.Context, nc *nats.Conn, replicas int) (*UserMap, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("user map: %w", err)
	}
	kv, err := js.KeyValue(ctx, UsersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      UsersBucket,
			Description: "Dormouse: each user's backend (IMAP address)",
			History:     1,
			Replicas:    max(replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, UsersBucket) // made meanwhile
		}
	}
	if err != nil {
		return nil, fmt.Errorf("user map %s: %w", UsersBucket, err)
	}
	return &UserMap{kv: kv}, nil
}

// Lookup returns user's backend; ok is false when the map has none.
func (m *UserMap) Lookup(ctx context.Context, user string) (backend string, ok bool, err error) {
	e, err := m.kv.Get(ctx, Token(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up %s in %s: %w", user, UsersBucket, err)
	}
	return string(e.Value()), true, nil
}

// Set maps user to backend: moving a user is this one Put.
func (m *UserMap) Set(ctx context.Context, user, backend string) error {
	if backend == "" {
		return errors.New("user map: empty backend")
	}
	if _, err := m.kv.Put(ctx, Token(user), []byte(backend)); err != nil {
		return fmt.Errorf("map %s to %s in %s: %w", user, backend, UsersBucket, err)
	}
	return nil
}

// Delete removes user's entry: a proxy then routes the user by hash.
func (m *UserMap) Delete(ctx context.Context, user string) error {
	if err := m.kv.Delete(ctx, Token(user)); err != nil {
		return fmt.Errorf("remove %s from %s: %w", user, UsersBucket, err)
	}
	return nil
}

// Assignment is one entry of the map as Watch reports it.
type Assignment struct {
	User    string
	Backend string // "" when the entry was removed
}

// Watch sends every current entry of the map, then an Assignment with no
// User (the copy is complete), then each change, until ctx ends; then the
// channel is closed.
func (m *UserMap) Watch(ctx context.Context) (<-chan Assignment, error) {
	w, err := m.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", UsersBucket, err)
	}
	out := make(chan Assignment, 64)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case v, ok := <-w.Updates():
				if !ok {
					return
				}
				e = v
			}
			var a Assignment
			if e != nil {
				user, ok := ParseToken(e.Key())
				if !ok {
					continue // not ours
				}
				a.User = user
				if e.Operation() == jetstream.KeyValuePut {
					a.Backend = string(e.Value())
				}
			}
			select {
			case out <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
