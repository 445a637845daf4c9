package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/mailstore"
	"github.com/dormouse/dormouse/notice"
)

// natsDataDir is the embedded NATS server's JetStream folder in the data
// folder (the user → backend map).
const natsDataDir = "nats"

// notices is what [cluster] nats starts: maybe an embedded NATS server,
// and the publisher of every store event's notice.
type notices struct {
	pub    *notice.Publisher
	cancel func()
	// embedded, when set, ends the embedded server's start loop and
	// shuts the server down.
	embedded *embeddedNATS
}

// startNotices starts publishing a notice for every change event of store
// when cfg names NATS servers (or an embedded one); nil when it does not.
func startNotices(cfg config.Config, l layout, store mailstore.Store, reg *prometheus.Registry, log *slog.Logger) (*notices, error) {
	if cfg.Cluster.NATS == "" {
		return nil, nil
	}
	urls, embedded, err := notice.ParseNATS(cfg.Cluster.NATS)
	if err != nil {
		return nil, withCode(exitConfigError, fmt.Errorf("cluster.%w", err))
	}
	n := &notices{}
	if embedded != "" {
		// The publisher connects to the address and retries until the
		// server listens there: during an upgrade (serve --takeover) the
		// old process holds it until it exits.
		n.embedded = startEmbeddedNATS(notice.EmbeddedOptions{
			Listen:   embedded,
			StoreDir: filepath.Join(l.data, natsDataDir),
			Logger:   log,
		}, log)
		urls = "nats://" + embedded
	}
	node := cfg.Cluster.Node
	if node == "" {
		node = string(cfg.Listen.IMAP)
	}
	m := notice.NewMetrics()
	reg.MustRegister(m.Collectors()...)
	n.pub, err = notice.NewPublisher(notice.PublisherConfig{URLs: urls, Node: node, Logger: log, Metrics: m})
	if err != nil {
		n.embedded.stop()
		return nil, withCode(exitConfigError, err)
	}
	n.cancel = store.Watch("", "", n.pub.Notify)
	return n, nil
}

// stop stops publishing, then the embedded server; a nil *notices is fine.
func (n *notices) stop() {
	if n == nil {
		return
	}
	n.cancel()
	n.pub.Close()
	n.embedded.stop()
}

// embeddedNATS starts a NATS server in the process, retrying while its
// address is taken, until stop.
type embeddedNATS struct {
	quit chan struct{}
	done chan struct{}
	srv  *server.Server // set by the start loop; read after done
}

func startEmbeddedNATS(o notice.EmbeddedOptions, log *slog.Logger) *embeddedNATS {
	e := &embeddedNATS{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		for attempt := 0; ; attempt++ {
			srv, err := notice.StartEmbedded(o)
			if err == nil {
				log.Info("embedded NATS started", "addr", o.Listen)
				select {
				case <-e.quit:
					srv.Shutdown()
					srv.WaitForShutdown()
				default:
					e.srv = srv
				}
				return
			}
			if attempt == 0 {
				log.Warn("embedded NATS not started; retrying", "addr", o.Listen, "err", err)
			}
			select {
			case <-e.quit:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return e
}

// stop ends the start loop and shuts the server down; nil is fine.
func (e *embeddedNATS) stop() {
	if e == nil {
		return
	}
	close(e.quit)
	<-e.done
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
}
