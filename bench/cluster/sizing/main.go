// Command sizing measures two per-sleeper costs that docs/cluster.md's
// 10-million-sleeper sizing needs and bench/cluster does not see:
//
//   - -what sockets: the kernel memory of an idle TCP connection. It
//     opens -n loopback connections (both ends in this process, so 2n
//     sockets), has each side write and read a greeting as an IMAP
//     session does, leaves them idle, and reports per socket the growth
//     of the kernel's slab caches a socket uses (/proc/slabinfo: active
//     objects × object size) and of the socket buffer memory the kernel
//     charges (/proc/net/sockstat TCP mem, in pages). System-wide
//     counters: other activity on the machine is noise, so run it twice.
//   - -what nats: the memory of a NATS server per subscription. It runs
//     an embedded NATS cluster of -nodes nodes in a child process, has
//     one connection subscribe -n subjects like the proxy's per-user
//     ones (dormouse.notice.<user>.>) on node 0, and reports the child's
//     Pss growth per subscription (every node keeps the interest its
//     routes announce, so the figure is for the whole cluster) and per
//     node.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/bench/internal/procmem"
	"github.com/dormouse/dormouse/notice"
)

func main() {
	what := flag.String("what", "sockets", "sockets or nats")
	n := flag.Int("n", 5000, "connections (sockets) or subscriptions (nats)")
	nodes := flag.Int("nodes", 3, "NATS cluster nodes (nats)")
	child := flag.Bool("child", false, "internal: run the NATS cluster and wait for stdin to close")
	flag.Parse()
	var r any
	var err error
	switch {
	case *child:
		err = runCluster(*nodes)
	case *what == "sockets":
		r, err = sockets(*n)
	case *what == "nats":
		r, err = natsSubs(*n, *nodes)
	default:
		err = fmt.Errorf("unknown -what %q", *what)
	}
	if r != nil {
		json.NewEncoder(os.Stdout).Encode(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizing:", err)
		os.Exit(1)
	}
}

// slabCaches are the slab caches a TCP socket's objects come from: the
// socket (TCP, sock_inode_cache), its file and dentry, the epoll entry
// Go's netpoller adds, and the buffers' heads.
var slabCaches = []string{"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "skbuff_head_cache", "kmalloc-256", "kmalloc-512", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k"}

// slab reads /proc/slabinfo: bytes in active objects per cache.
func slab() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil, fmt.Errorf("slabinfo: %w", err)
	}
	out := make(map[string]int64)
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) < 4 {
			continue
		}
		active, err1 := strconv.ParseInt(f[1], 10, 64)
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 == nil && err2 == nil {
			out[f[0]] = active * size
		}
	}
	return out, nil
}

// socketsResult is the kernel memory of idle loopback TCP sockets.
type socketsResult struct {
	Sockets int `json:"sockets"`
	// Slab growth per socket, by cache and in all of slabCaches.
	SlabPerSocket      map[string]float64 `json:"slab_bytes_per_socket"`
	SlabTotalPerSocket float64            `json:"slab_total_bytes_per_socket"`
	// Socket buffer memory (sockstat TCP mem pages × page size) per socket.
	BufferPerSocket float64 `json:"buffer_bytes_per_socket"`
}

func sockets(n int) (*socketsResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	runtime.GC()
	time.Sleep(time.Second)
	s0, err := slab()
	if err != nil {
		return nil, err
	}
	k0 := procmem.ReadKernel()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	greet := []byte("* OK [CAPABILITY IMAP4rev1 IDLE] Dormouse ready\r\n")
	buf := make([]byte, 256)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			return nil, err
		}
		conns = append(conns, c, s)
		// A greeting each way, read: the queues are empty again, as a
		// sleeper's are.
		for _, p := range [][2]net.Conn{{s, c}, {c, s}} {
			if _, err := p[0].Write(greet); err != nil {
				return nil, err
			}
			if _, err := io.ReadFull(p[1], buf[:len(greet)]); err != nil {
				return nil, err
			}
		}
	}
	time.Sleep(2 * time.Second)
	s1, err := slab()
	if err != nil {
		return nil, err
	}
	k1 := procmem.ReadKernel()
	r := &socketsResult{Sockets: len(conns), SlabPerSocket: make(map[string]float64)}
	for _, name := range slabCaches {
		d := float64(s1[name]-s0[name]) / float64(len(conns))
		r.SlabPerSocket[name] = d
		r.SlabTotalPerSocket += d
	}
	r.BufferPerSocket = float64(k1.Sockstat["TCP.mem"]-k0.Sockstat["TCP.mem"]) * float64(os.Getpagesize()) / float64(len(conns))
	return r, nil
}

// natsResult is a NATS cluster's memory per subscription.
type natsResult struct {
	Subscriptions int     `json:"subscriptions"`
	Nodes         int     `json:"nodes"`
	PssBefore     int64   `json:"cluster_pss_kib_before"`
	PssAfter      int64   `json:"cluster_pss_kib_after"`
	PerSub        float64 `json:"cluster_bytes_per_subscription"`
	PerSubPerNode float64 `json:"node_bytes_per_subscription"`
}

func natsSubs(n, nodes int) (*natsResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", "-nodes", strconv.Itoa(nodes))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	// The child says "ready <node 0's URL>" once every node routes to
	// the others.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		return nil, fmt.Errorf("nats child: %q %v", line, err)
	}
	pss := func() (int64, error) {
		time.Sleep(3 * time.Second) // the routes' interest, the child's GC
		t, err := procmem.Measure(cmd.Process.Pid)
		return t.PssKiB, err
	}
	r := &natsResult{Subscriptions: n, Nodes: nodes}
	if r.PssBefore, err = pss(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ch := make(chan *nats.Msg, 1)
	for i := range n {
		if _, err := nc.ChanSubscribe(notice.UserSubject(fmt.Sprintf("user%d@example.org", i)), ch); err != nil {
			return nil, err
		}
	}
	if err := nc.Flush(); err != nil {
		return nil, err
	}
	if r.PssAfter, err = pss(); err != nil {
		return nil, err
	}
	r.PerSub = float64(r.PssAfter-r.PssBefore) * 1024 / float64(n)
	r.PerSubPerNode = r.PerSub / float64(nodes)
	return r, nil
}

// freePort is a loopback port free now: fixed ranges collide with other
// connections' ephemeral ports on this machine.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// runCluster is the child: nodes embedded NATS servers routed to each
// other, until stdin closes.
func runCluster(nodes int) error {
	ports := make([]int, 2*nodes) // clients, then routes
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	var servers []*server.Server
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	for i := range nodes {
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: ports[i], NoLog: true, NoSigs: true}
		if nodes > 1 {
			opts.Cluster = server.ClusterOpts{Name: "sizing", Host: "127.0.0.1", Port: ports[nodes+i]}
			for j := range nodes {
				if j != i {
					opts.Routes = append(opts.Routes, server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", ports[nodes+j]))...)
				}
			}
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return err
		}
		go s.Start()
		servers = append(servers, s)
	}
	for _, s := range servers {
		if !s.ReadyForConnections(time.Minute) {
			return errors.New("nats not ready")
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, s := range servers {
		for s.NumRoutes() < nodes-1 {
			if time.Now().After(deadline) {
				return errors.New("routes not up")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Printf("ready nats://127.0.0.1:%d\n", ports[0])
	io.Copy(io.Discard, os.Stdin)
	return nil
}
