// Package natstest starts embedded NATS servers for tests: one, or a
// cluster of several on 127.0.0.1 with routes between them and
// JetStream, as a production deployment runs them.
package natstest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dormouse/dormouse/notice"
)

// Cluster is a NATS cluster running in the test's process.
type Cluster struct {
	// Servers are the nodes, in start order; a killed one stays in the
	// list, shut down.
	Servers []*server.Server
}

// StartCluster starts n NATS servers on free 127.0.0.1 ports, joined by
// routes into one cluster with JetStream (files under t.TempDir()), and
// waits until every node routes to every other and JetStream has a
// leader. They are shut down when the test ends. n = 1 gives a lone
// server with JetStream.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	// The folder first: cleanups run last first, and the servers must
	// be down before their files go.
	dir := t.TempDir()
	c := &Cluster{}
	t.Cleanup(c.Shutdown)
	// JetStream in a cluster wants its routes configured from the start,
	// the first node's too: every node gets the route addresses of all
	// (a node ignores its own).
	clusterAddrs := make([]string, n)
	var routes []string
	for i := range clusterAddrs {
		clusterAddrs[i] = freeAddr(t)
		routes = append(routes, "nats://"+clusterAddrs[i])
	}
	for i := range n {
		o := notice.EmbeddedOptions{
			Listen:   "127.0.0.1:0",
			Name:     fmt.Sprintf("n%d", i+1),
			StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
		}
		if n > 1 {
			o.Cluster = "dormouse-test"
			o.ClusterListen = clusterAddrs[i]
			o.Routes = routes
		}
		s, err := notice.StartEmbedded(o)
		if err != nil {
			t.Fatalf("start NATS node %d: %v", i+1, err)
		}
		c.Servers = append(c.Servers, s)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !c.formed(n) {
		if time.Now().After(deadline) {
			t.Fatalf("NATS cluster of %d not formed after 60s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// formed reports whether every node routes to all others and is current
// with JetStream's meta group, and one leads it that has heard from all.
func (c *Cluster) formed(n int) bool {
	if n == 1 {
		return true
	}
	leader := false
	for _, s := range c.Servers {
		if s.NumRoutes() < n-1 || !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			// Only the leader lists the peers it has heard from.
			leader = len(s.JetStreamClusterPeers()) == n
		}
	}
	return leader
}

// URLs are the client URLs of the running nodes, comma-separated, as
// [cluster] nats takes them.
func (c *Cluster) URLs() string {
	var us []string
	for _, s := range c.Servers {
		if s.Running() {
			us = append(us, s.ClientURL())
		}
	}
	return strings.Join(us, ",")
}

// Kill shuts node i down and waits until it is gone.
func (c *Cluster) Kill(i int) {
	s := c.Servers[i]
	s.Shutdown()
	s.WaitForShutdown()
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}
