package proxy

import (
	"fmt"
	"testing"
)

// TestRendezvous checks that users spread over the backends and that
// removing one backend moves only that backend's users.
func TestRendezvous(t *testing.T) {
	three := []string{"10.0.0.1:143", "10.0.0.2:143", "10.0.0.3:143"}
	two := three[:2]
	count := map[string]int{}
	for i := range 3000 {
		u := fmt.Sprintf("user%d", i)
		b3 := rendezvous(three, u)
		count[b3]++
		if b2 := rendezvous(two, u); b3 != three[2] && b2 != b3 {
			t.Fatalf("%s moved from %s to %s when another backend left", u, b3, b2)
		}
		if rendezvous(three, "USER"+u[4:]) != b3 {
			t.Fatalf("%s: case changes the backend", u)
		}
	}
	for _, b := range three {
		if count[b] < 800 {
			t.Errorf("backend %s got %d of 3000 users", b, count[b])
		}
	}
}
