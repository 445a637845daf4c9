// Package testserver starts a real Dormouse IMAP server for tests: on
// 127.0.0.1, over a Maildir store in a temporary folder, with a passwd-file
// of test users. Its Client speaks raw IMAP so that protocol tests read as
// transcripts:
//
//	srv := testserver.Start(t)
//	c := srv.Login(t, srv.Alice)
//	c.Run(`
//	C: a1 SELECT INBOX
//	S~ \* FLAGS .*
//	...
//	S: a1 OK [READ-WRITE] SELECT completed
//	`)
package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
	"github.com/dormouse/dormouse/mailstore/maildir"
)

// User is a test account.
type User struct{ Name, Password string }

// Server is a running test server. Its fields are read-only.
type Server struct {
	Addr    string // host:port to dial
	DataDir string // the Maildir store's root
	Store   *maildir.Store
	IMAP    *imapserver.Server
	// Alice and Bob are accounts in the passwd-file; their mail is created
	// on first login.
	Alice, Bob User
	// PasswdFile is the Dovecot-style passwd-file the server checks.
	PasswdFile string
	// TLS is the client configuration trusting the server's certificate
	// when the server was started WithTLS; nil otherwise.
	TLS *tls.Config
	// Metrics are the server's collectors.
	Metrics *imapserver.Metrics

	close     func()
	closeOnce sync.Once
}

type options struct {
	configure func(*imapserver.Config)
	store     func(*maildir.Options)
	implicit  bool
	tls       bool
	logger    *slog.Logger
	sendBuf   int
}

// Option changes how Start sets up the server.
type Option func(*options)

// WithConfig lets a test change the server's Config before it starts (for
// example its Limits). Store, Auth and Metrics are already set.
func WithConfig(fn func(*imapserver.Config)) Option {
	return func(o *options) { o.configure = fn }
}

// WithStoreOptions lets a test change the mail store's Options before it
// opens (for example its QuotaLimits).
func WithStoreOptions(fn func(*maildir.Options)) Option {
	return func(o *options) { o.store = fn }
}

// WithTLS gives the server a self-signed certificate: STARTTLS on the
// plain listener, or implicit TLS with implicit set.
func WithTLS(implicit bool) Option {
	return func(o *options) { o.tls, o.implicit = true, implicit }
}

// WithSendBuffer sets SO_SNDBUF on the server's listening socket, which
// the connections it accepts inherit: a client that stops reading then
// fills the server's side after a few KB instead of the megabyte or so
// the kernel's autotuning gives a loopback connection.
func WithSendBuffer(bytes int) Option {
	return func(o *options) { o.sendBuf = bytes }
}

// WithLogger sends the server's and store's logs to l. By default they go
// to the test log at debug level, so a failing test shows them (and -v
// shows them all); benchmarks discard them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	s := &Server{
		DataDir:    filepath.Join(dir, "data"),
		Alice:      User{"alice", "alice-secret"},
		Bob:        User{"bob", "bob-secret"},
		PasswdFile: filepath.Join(dir, "passwd"),
		Metrics:    imapserver.NewMetrics(),
	}
	// Alice's and Bob's passwords are {PLAIN}: a bcrypt check costs tens
	// of milliseconds of CPU, and the imapserver tests log in hundreds of
	// times. The hashes have their own tests (auth, and the end-to-end
	// tests, whose users dormouse adds); users a test adds with
	// auth.AddUser are hashed as usual.
	var passwd []byte
	for _, u := range []User{s.Alice, s.Bob} {
		passwd = append(passwd, u.Name+":{PLAIN}"+u.Password+"\n"...)
	}
	if err := os.WriteFile(s.PasswdFile, passwd, 0o600); err != nil {
		t.Fatalf("testserver: write passwd-file: %v", err)
	}
	pw, err := auth.Open(s.PasswdFile)
	if err != nil {
		t.Fatalf("testserver: open passwd-file: %v", err)
	}
	logger := o.logger
	tw := &testWriter{t: t}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
		if _, bench := t.(*testing.B); !bench {
			logger = slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	storeOpts := maildir.Options{
		Logger: logger,
		NoSync: true, // tests do not survive crashes anyway
	}
	if o.store != nil {
		o.store(&storeOpts)
	}
	store, err := maildir.Open(s.DataDir, storeOpts)
	if err != nil {
		t.Fatalf("testserver: open store: %v", err)
	}
	s.Store = store
	cfg := imapserver.Config{
		Store:    store,
		Auth:     pw,
		Logger:   logger,
		Metrics:  s.Metrics,
		SpoolDir: dir,
		Limits: imapserver.Limits{
			FailedLoginDelay: 10 * time.Millisecond,
		},
	}
	var serverTLS *tls.Config
	if o.tls {
		serverTLS, s.TLS = selfSigned(t)
		cfg.TLS = serverTLS
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	srv, err := imapserver.New(cfg)
	if err != nil {
		store.Close()
		t.Fatalf("testserver: %v", err)
	}
	s.IMAP = srv
	var lc net.ListenConfig
	if o.sendBuf > 0 {
		lc.Control = sendBufferControl(o.sendBuf)
	}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		t.Fatalf("testserver: listen: %v", err)
	}
	if o.implicit {
		l = imapserver.NewTLSListener(l, serverTLS)
	}
	s.Addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	s.close = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("testserver: shutdown: %v", err)
		}
		<-served
		if err := store.Close(); err != nil {
			t.Errorf("testserver: close store: %v", err)
		}
		tw.done.Store(true)
	}
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down (clients hear "* BYE") and closes the store.
// The test's cleanup calls it; calling it earlier, or twice, is fine.
func (s *Server) Close() { s.closeOnce.Do(s.close) }

// Deliver drops a message into a user's INBOX the way an MDA does: written
// into tmp/ and renamed into new/, outside the server. The server learns of
// it from the file system.
func (s *Server) Deliver(t testing.TB, user, message string) {
	t.Helper()
	s.DeliverTo(t, user, "INBOX", message)
}

// DeliverTo is Deliver into another mailbox of the user (a Maildir++
// folder, ".name", made if missing), as a filtering MDA does.
func (s *Server) DeliverTo(t testing.TB, user, mailbox, message string) {
	t.Helper()
	md := filepath.Join(s.DataDir, "users", user, "Maildir")
	if mailbox != "INBOX" {
		md = filepath.Join(md, "."+mailbox)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			t.Fatalf("testserver: deliver: %v", err)
		}
	}
	name := time.Now().Format("20060102150405.000000000") + ".testserver"
	tmp := filepath.Join(md, "tmp", name)
	if err := os.WriteFile(tmp, []byte(message), 0o600); err != nil {
		t.Fatalf("testserver: deliver: %v", err)
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
		t.Fatalf("testserver: deliver: %v", err)
	}
}

// testWriter sends log lines to the test log until the test's cleanup
// ends: logging after a test has finished would panic.
type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Logf("%s", bytes.TrimSuffix(p, []byte("\n")))
	}
	return len(p), nil
}
