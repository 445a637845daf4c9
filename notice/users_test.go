package notice_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/notice"
	"github.com/dormouse/dormouse/notice/natstest"
)

// TestUserMap sets, looks up, moves and removes users in the KV map of a
// 3-node cluster (3 replicas) while a watcher follows, and reads the map
// again through another node after the first one is killed.
func TestUserMap(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.Servers[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := notice.OpenUserMap(ctx, nc, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "alice", "127.0.0.1:1143"); err != nil {
		t.Fatal(err)
	}
	updates, err := m.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() notice.Assignment {
		t.Helper()
		select {
		case a := <-updates:
			return a
		case <-ctx.Done():
			t.Fatal("no update from the watch")
		}
		return notice.Assignment{}
	}
	// alice, then the end of the current entries. (A watch made at once
	// after a Put may find the stream's copy without it yet, and then
	// report it as a change: the order of the two is not checked.)
	var sawAlice, sawEnd bool
	for !sawAlice || !sawEnd {
		switch a := next(); a {
		case notice.Assignment{User: "alice", Backend: "127.0.0.1:1143"}:
			sawAlice = true
		case notice.Assignment{}:
			sawEnd = true
		default:
			t.Fatalf("watch saw %+v", a)
		}
	}
	// A user name that is no token by itself.
	const bob = "bob@example.org"
	if _, ok, err := m.Lookup(ctx, bob); ok || err != nil {
		t.Fatalf("bob before: %v %v", ok, err)
	}
	if err := m.Set(ctx, bob, "127.0.0.1:2143"); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != (notice.Assignment{User: bob, Backend: "127.0.0.1:2143"}) {
		t.Fatalf("watch saw %+v", a)
	}
	// Moving is one Set.
	if err := m.Set(ctx, "alice", "127.0.0.1:2143"); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != (notice.Assignment{User: "alice", Backend: "127.0.0.1:2143"}) {
		t.Fatalf("watch saw %+v", a)
	}
	if err := m.Delete(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != (notice.Assignment{User: bob}) {
		t.Fatalf("watch saw %+v", a)
	}

	c.Kill(0)
	nc2, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	// The stream's leader may have died with node 1: retry until a new
	// one answers.
	var m2 *notice.UserMap
	for {
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		m2, err = notice.OpenUserMap(short, nc2, 3)
		cancel()
		if err == nil {
			break
		}
		t.Logf("%v", err)
		if ctx.Err() != nil {
			t.Fatal(err)
		}
	}
	for {
		b, ok, err := m2.Lookup(ctx, "alice")
		if err == nil {
			if !ok || b != "127.0.0.1:2143" {
				t.Fatalf("alice after the kill: %q %v", b, ok)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("lookup after the kill: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, ok, err := m2.Lookup(ctx, bob); ok || err != nil {
		t.Fatalf("bob after removal: %v %v", ok, err)
	}
}
