package notice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedPrefix marks a [cluster] nats setting that asks for a NATS
// server inside the process: "embedded:127.0.0.1:4222" listens there and
// connects to itself.
const EmbeddedPrefix = "embedded:"

// EmbeddedOptions says how to run a NATS server inside the process: for a
// single node (`[cluster] nats = "embedded:ADDR"`) or as one node of a
// cluster in tests (package notice/natstest).
type EmbeddedOptions struct {
	// Listen is the client address, "127.0.0.1:4222"; port 0 picks one.
	Listen string
	// Name is the server's name, unique in a cluster; "" makes one.
	Name string
	// StoreDir holds JetStream's files (the KV map); "" turns JetStream
	// off.
	StoreDir string
	// Cluster is the cluster's name; "" runs a lone server, and then
	// ClusterListen and Routes are not used.
	Cluster string
	// ClusterListen is the address of the routes between the nodes;
	// port 0 picks one.
	ClusterListen string
	// Routes are the route URLs of other nodes ("nats://127.0.0.1:6222").
	Routes []string
	// Logger, when set, gets the server's warnings and errors.
	Logger *slog.Logger
}

// StartEmbedded starts a NATS server in the process and waits until it
// takes connections. The caller shuts it down (Shutdown, then
// WaitForShutdown).
func StartEmbedded(o EmbeddedOptions) (*server.Server, error) {
	host, port, err := splitAddr(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen address: %w", err)
	}
	if port != server.RANDOM_PORT {
		// The server reports a taken port only in its log and then is
		// never ready: ask first, to fail at once.
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		ln.Close()
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		// Notices are small; a bound well under the 1 MB default.
		MaxPayload: 64 << 10,
	}
	if o.StoreDir != "" {
		opts.JetStream = true
		opts.StoreDir = o.StoreDir
	}
	if o.Cluster != "" {
		ch, cp, err := splitAddr(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS cluster address: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: o.Cluster, Host: ch, Port: cp}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embedded NATS route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(slogLogger{o.Logger}, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded NATS: not ready for connections after 30s")
	}
	return s, nil
}

// splitAddr splits "host:port" for the server's options, whose port -1
// asks for a free one (0 would be the default port).
func splitAddr(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return h, port, nil
}

// ParseNATS reads a [cluster] nats setting: the URLs to connect to, and
// the embedded server's listen address when it names one.
func ParseNATS(setting string) (urls, embedded string, err error) {
	setting = strings.TrimSpace(setting)
	if addr, ok := strings.CutPrefix(setting, EmbeddedPrefix); ok {
		if _, port, err := splitAddr(addr); err != nil {
			return "", "", fmt.Errorf("nats %q: %w", setting, err)
		} else if port == server.RANDOM_PORT {
			return "", "", fmt.Errorf("nats %q: the embedded server needs a port", setting)
		}
		return "", addr, nil
	}
	for _, u := range strings.Split(setting, ",") {
		if _, err := url.Parse(strings.TrimSpace(u)); err != nil || strings.TrimSpace(u) == "" {
			return "", "", fmt.Errorf("nats %q: bad URL %q", setting, u)
		}
	}
	return setting, "", nil
}

// slogLogger hands the NATS server's log to slog: warnings and errors
// only, since its notices and debug lines would drown the server's own.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Noticef(string, ...any) {}
func (s slogLogger) Debugf(string, ...any)  {}
func (s slogLogger) Tracef(string, ...any)  {}
func (s slogLogger) Warnf(format string, v ...any) {
	s.l.Warn(fmt.Sprintf(format, v...))
}
func (s slogLogger) Errorf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...))
}
func (s slogLogger) Fatalf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...))
}
