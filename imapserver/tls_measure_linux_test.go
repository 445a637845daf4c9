//go:build linux

package imapserver_test

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/internal/testserver"
)

// Environment of the client process of TestMeasureTLSSleepers.
const (
	envClientAddr   = "DORMOUSE_MEASURE_CLIENT_ADDR"
	envClientK      = "DORMOUSE_MEASURE_CLIENT_K"
	envClientTLS    = "DORMOUSE_MEASURE_CLIENT_TLS"
	envClientUpload = "DORMOUSE_MEASURE_CLIENT_UPLOAD"
	// envClientCompress: COMPRESS DEFLATE after LOGIN.
	envClientCompress = "DORMOUSE_MEASURE_CLIENT_COMPRESS"
)

// measureUpload is the APPEND that grows a tls.Conn's read buffer.
const measureUpload = 60 << 10

// TestMeasureTLSSleepers reports what a hibernated TLS connection costs
// the server's Go heap, K at a time, for several TLS configurations,
// after small commands only (LOGIN, SELECT, IDLE) and after a 60 KiB
// APPEND, with plain TCP as the reference; and what inside the tls.Conn
// holds it. Opt-in (DORMOUSE_MEASURE=1): it opens K connections per row.
// The clients run in a child process (this test binary again), so that
// their memory is not counted.
//
//	DORMOUSE_MEASURE=1 flock /tmp/dormouse-bench.lock go test -count=1 -run MeasureTLSSleepers -v ./imapserver/
func TestMeasureTLSSleepers(t *testing.T) {
	if os.Getenv("DORMOUSE_MEASURE") != "1" {
		t.Skip("set DORMOUSE_MEASURE=1 to measure")
	}
	k := 2000
	if v, err := strconv.Atoi(os.Getenv("DORMOUSE_MEASURE_K")); err == nil && v > 0 {
		k = v
	}
	variants := []struct {
		name     string
		tls      bool
		cfg      func(*tls.Config)
		compress bool
	}{
		{"plain TCP (reference)", false, nil, false},
		{"TLS 1.3, Go defaults (X25519MLKEM768)", true, func(*tls.Config) {}, false},
		{"TLS 1.3, session tickets off", true, func(c *tls.Config) { c.SessionTicketsDisabled = true }, false},
		{"TLS 1.3, X25519 only", true, func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} }, false},
		{"TLS 1.2", true, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, false},
		{"plain TCP, COMPRESS=DEFLATE", false, nil, true},
		{"TLS 1.3 defaults, COMPRESS=DEFLATE", true, func(*tls.Config) {}, true},
	}
	if only := os.Getenv("DORMOUSE_MEASURE_ONLY"); only != "" {
		// A substring of the variants' names, such as COMPRESS.
		kept := variants[:0]
		for _, v := range variants {
			if strings.Contains(v.name, only) || v.name == variants[0].name {
				kept = append(kept, v)
			}
		}
		variants = kept
	}
	var report strings.Builder
	fmt.Fprintf(&report, "K = %d hibernated connections per row; Go heap (HeapAlloc after GC) per connection\n", k)
	fmt.Fprintf(&report, "%-40s %-8s %9s %10s %9s %8s %9s\n", "variant", "after", "heap B/c", "rawInput", "hand", "struct", "rest")
	for _, v := range variants {
		for _, upload := range []bool{false, true} {
			r := measureSleepers(t, k, v.tls, v.cfg, upload, v.compress)
			after := "command"
			if upload {
				after = "upload"
			}
			fmt.Fprintf(&report, "%-40s %-8s %9.0f %10.0f %9.0f %8d %9.0f\n",
				v.name, after, r.perConn, r.rawInput, r.hand, r.structSize, r.perConn-r.rawInput-r.hand-float64(r.structSize))
		}
	}
	t.Logf("\n%s", report.String())
}

// sleeperCost is one measured row.
type sleeperCost struct {
	perConn         float64 // heap bytes per hibernated connection
	rawInput, hand  float64 // mean capacity of these tls.Conn buffers
	structSize      uintptr // the tls.Conn struct
	sleepersCounted int
}

func measureSleepers(t *testing.T, k int, useTLS bool, tlsCfg func(*tls.Config), upload, compress bool) sleeperCost {
	dir := t.TempDir()
	// A PLAIN passwd-file: K LOGINs must not cost K password hashes.
	passwd := filepath.Join(dir, "passwd-plain")
	if err := os.WriteFile(passwd, []byte("alice:{PLAIN}alice-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw, err := auth.Open(passwd)
	if err != nil {
		t.Fatal(err)
	}
	opts := []testserver.Option{
		testserver.WithLogger(slog.New(slog.DiscardHandler)),
		testserver.WithConfig(func(c *imapserver.Config) {
			c.Auth = pw
			c.HibernateAfter = time.Millisecond
			if c.TLS != nil {
				tlsCfg(c.TLS) // the listener shares this Config
			}
		}),
	}
	if useTLS {
		opts = append(opts, testserver.WithTLS(true))
	}
	srv := testserver.Start(t, opts...)
	defer srv.Close()

	before := heapAfterGC()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envClientAddr+"="+srv.Addr, envClientK+"="+strconv.Itoa(k),
		envClientTLS+"="+strconv.FormatBool(useTLS), envClientUpload+"="+strconv.FormatBool(upload),
		envClientCompress+"="+strconv.FormatBool(compress))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child exits, closing its connections
		cmd.Wait()
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- nil
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("client process ended before ready: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("client process not ready within 5 minutes")
	}
	deadline := time.Now().Add(time.Minute)
	for testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"] != float64(k) {
		if time.Now().After(deadline) {
			t.Fatalf("hibernated = %v, want %d", testserver.Gather(t, srv.Metrics)["dormouse_imap_connections,state=hibernated"], k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := heapAfterGC()
	r := sleeperCost{perConn: float64(int64(after)-int64(before)) / float64(k)}
	conns := imapserver.TLSSleepers(srv.IMAP)
	r.sleepersCounted = len(conns)
	if len(conns) > 0 {
		r.structSize = reflect.TypeFor[tls.Conn]().Size()
		for _, tc := range conns {
			v := reflect.ValueOf(tc).Elem()
			r.rawInput += float64(v.FieldByName("rawInput").FieldByName("buf").Cap())
			r.hand += float64(v.FieldByName("hand").FieldByName("buf").Cap())
		}
		r.rawInput /= float64(len(conns))
		r.hand /= float64(len(conns))
	}
	return r
}

// heapAfterGC is the live Go heap after two collections.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMeasureClientProcess is the client side of TestMeasureTLSSleepers,
// run in a child process: it opens K connections, logs each in, uploads
// when asked, selects INBOX, enters IDLE, says "ready" and holds the
// connections until its standard input closes.
func TestMeasureClientProcess(t *testing.T) {
	addr := os.Getenv(envClientAddr)
	if addr == "" {
		t.Skip("only run by TestMeasureTLSSleepers")
	}
	k, _ := strconv.Atoi(os.Getenv(envClientK))
	useTLS := os.Getenv(envClientTLS) == "true"
	upload := os.Getenv(envClientUpload) == "true"
	compress := os.Getenv(envClientCompress) == "true"
	dial := func() (net.Conn, error) {
		if useTLS {
			// A load client on loopback: the certificate is the test's own.
			return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		}
		return net.Dial("tcp", addr)
	}
	open := func(first bool) (net.Conn, error) {
		nc, err := dial()
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(nc)
		var w io.Writer = nc
		// Every read has a deadline: a stuck server fails the run.
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
		steps := []string{"a LOGIN alice alice-secret\r\n"}
		if compress {
			steps = append(steps, "z COMPRESS DEFLATE\r\n")
		}
		if first {
			steps = append(steps, "c CREATE Uploads\r\n")
		}
		if upload {
			body := strings.Repeat("x", measureUpload-2) + "\r\n"
			steps = append(steps, fmt.Sprintf("u APPEND Uploads {%d+}\r\n%s\r\n", len(body), body))
		}
		steps = append(steps, "s SELECT INBOX\r\n", "i IDLE\r\n")
		if _, err := br.ReadString('\n'); err != nil { // greeting
			return nil, err
		}
		for _, s := range steps {
			if _, err := io.WriteString(w, s); err != nil {
				return nil, err
			}
			tag := s[:1]
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return nil, fmt.Errorf("%q: %w", s[:min(len(s), 20)], err)
				}
				if tag == "i" && strings.HasPrefix(l, "+ ") {
					break
				}
				if strings.HasPrefix(l, tag+" ") {
					if !strings.HasPrefix(l, tag+" OK") {
						return nil, fmt.Errorf("%q: %s", s[:min(len(s), 20)], l)
					}
					if tag == "z" {
						// Go's compress/flate, as a client.
						zw, _ := flate.NewWriter(nc, flate.DefaultCompression)
						w = syncFlusher{zw}
						br = bufio.NewReader(flate.NewReader(nc))
					}
					break
				}
			}
		}
		nc.SetDeadline(time.Time{})
		return nc, nil
	}
	first, err := open(true)
	if err != nil {
		t.Fatal(err)
	}
	conns := []net.Conn{first}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	next := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				nc, err := open(false)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				if nc != nil {
					conns = append(conns, nc)
				}
				mu.Unlock()
			}
		}()
	}
	for range k - 1 {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// syncFlusher compresses each write and sync-flushes it.
type syncFlusher struct{ zw *flate.Writer }

func (s syncFlusher) Write(p []byte) (int, error) {
	n, err := s.zw.Write(p)
	if err == nil {
		err = s.zw.Flush()
	}
	return n, err
}
