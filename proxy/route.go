package proxy

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/notice"
)

// Router names the backend that serves a user, "" when it has none for
// the user (then rendezvous hashing over Config.Backends does).
type Router func(ctx context.Context, user string) (string, error)

// rendezvous returns the backend with the highest hash of (backend, user)
// (highest random weight): each user has one backend, and removing a
// backend moves only its own users, each to the next on its own list.
func rendezvous(backends []string, user string) string {
	user = auth.CanonicalName(user)
	var best string
	var bestW uint64
	for _, b := range backends {
		h := fnv.New64a()
		h.Write([]byte(b))
		h.Write([]byte{0})
		h.Write([]byte(user))
		// FNV alone mixes its last bytes poorly into the high bits:
		// a finaliser (splitmix64's) spreads them.
		w := mix(h.Sum64())
		if best == "" || w > bestW {
			best, bestW = b, w
		}
	}
	return best
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// UserMapRouter routes by the user → backend map in NATS JetStream KV
// (route = "kv"): moving a user is one Set.
func UserMapRouter(m *notice.UserMap) Router {
	return func(ctx context.Context, user string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addr, _, err := m.Lookup(ctx, user)
		return addr, err
	}
}
