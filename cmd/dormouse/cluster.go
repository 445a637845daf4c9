package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

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
	pub     *notice.Publisher
	cancel  func()
	stopSrv func()
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
	n := &notices{stopSrv: func() {}}
	if embedded != "" {
		srv, err := notice.StartEmbedded(notice.EmbeddedOptions{
			Listen:   embedded,
			StoreDir: filepath.Join(l.data, natsDataDir),
			Logger:   log,
		})
		if err != nil {
			return nil, withCode(exitTempFail, err)
		}
		n.stopSrv = func() { srv.Shutdown(); srv.WaitForShutdown() }
		urls = srv.ClientURL()
		log.Info("embedded NATS started", "addr", embedded)
	}
	node := cfg.Cluster.Node
	if node == "" {
		node = string(cfg.Listen.IMAP)
	}
	m := notice.NewMetrics()
	reg.MustRegister(m.Collectors()...)
	n.pub, err = notice.NewPublisher(notice.PublisherConfig{URLs: urls, Node: node, Logger: log, Metrics: m})
	if err != nil {
		n.stopSrv()
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
	n.stopSrv()
}
