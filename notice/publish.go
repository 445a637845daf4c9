package notice

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/mailstore"
)

// ResyncSubject carries a backend's node name after each reconnect to
// NATS: notices it published just before the connection broke may have
// died with the NATS node, and those it could not hold while
// disconnected were dropped, so a subscriber must treat every sleeper of
// that backend's users as possibly changed, as after its own reconnect.
const ResyncSubject = "dormouse.resync"

// Publisher defaults.
const (
	// DefaultQueue bounds the notices waiting for the publishing
	// goroutine.
	DefaultQueue = 4096
	// DefaultReconnectBuffer bounds the bytes the NATS client holds
	// while disconnected (about 10,000 notices); beyond it notices are
	// dropped and counted.
	DefaultReconnectBuffer = 1 << 20
)

// PublisherConfig says where and how a Publisher publishes.
type PublisherConfig struct {
	// URLs are the NATS servers, comma-separated.
	URLs string
	// Node is this backend's name, put in every notice.
	Node string
	// Logger gets connection changes; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts what the publisher does.
	Metrics *Metrics
	// Queue bounds the notices waiting to be handed to the NATS client
	// (DefaultQueue when 0).
	Queue int
	// ReconnectBuffer bounds the bytes of notices the NATS client holds
	// while disconnected (DefaultReconnectBuffer when 0).
	ReconnectBuffer int
}

// Publisher publishes a Notice for every change event of a store. It never
// blocks the store: Notify queues the notice and one goroutine hands it to
// the NATS client; a full queue, or a NATS client that holds its bound
// while disconnected, drops the notice and counts it. The connection is
// retried forever.
type Publisher struct {
	nc      *nats.Conn
	node    string
	log     *slog.Logger
	metrics *Metrics
	queue   chan Notice

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewPublisher connects to NATS (in the background when no server answers
// yet) and starts publishing.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.ReconnectBuffer <= 0 {
		cfg.ReconnectBuffer = DefaultReconnectBuffer
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		node:    cfg.Node,
		log:     log,
		metrics: cfg.Metrics,
		queue:   make(chan Notice, cfg.Queue),
		done:    make(chan struct{}),
	}
	nc, err := Connect(cfg.URLs, "dormouse backend "+cfg.Node, log,
		nats.ReconnectBufSize(cfg.ReconnectBuffer),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
			p.metrics.reconnected()
			// Whatever was in flight to the lost server may be gone.
			if err := nc.Publish(ResyncSubject, []byte(p.node)); err != nil {
				log.Warn("publish resync", "err", err)
			}
		}))
	if err != nil {
		return nil, err
	}
	p.nc = nc
	p.metrics.setConn(nc)
	p.wg.Add(1)
	go p.run()
	return p, nil
}

// Connect connects to the NATS servers urls (comma-separated) as name,
// retrying forever: the first connection in the background when no server
// answers yet, and every reconnection after. Disconnections are logged.
func Connect(urls, name string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("NATS disconnected", "err", err)
		}),
	}, opts...)
	nc, err := nats.Connect(urls, all...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", urls, err)
	}
	return nc, nil
}

// Notify publishes the notice of a store's change event; it never blocks.
// It suits mailstore.Store.Watch("", "", p.Notify).
func (p *Publisher) Notify(ev mailstore.Event) {
	p.Publish(FromEvent(ev, p.node))
}

// Publish queues a notice for publishing, or drops and counts it when the
// queue is full. A notice without a Node gets the publisher's.
func (p *Publisher) Publish(n Notice) {
	if n.Node == "" {
		n.Node = p.node
	}
	select {
	case p.queue <- n:
	default:
		p.metrics.drop(dropQueueFull)
	}
}

// run hands the queued notices to the NATS client.
func (p *Publisher) run() {
	defer p.wg.Done()
	for {
		select {
		case n := <-p.queue:
			p.send(n)
		case <-p.done:
			return
		}
	}
}

func (p *Publisher) send(n Notice) {
	b, err := n.MarshalBinary()
	if err != nil {
		p.metrics.drop(dropInvalid)
		p.log.Debug("notice not published", "user", n.User, "mailbox", n.Mailbox, "err", err)
		return
	}
	if err := p.nc.Publish(Subject(n.User, n.Mailbox), b); err != nil {
		if errors.Is(err, nats.ErrReconnectBufExceeded) {
			p.metrics.drop(dropDisconnected)
		} else {
			p.metrics.drop(dropError)
			p.log.Debug("notice not published", "user", n.User, "mailbox", n.Mailbox, "err", err)
		}
		return
	}
	p.metrics.published()
}

// Conn is the publisher's NATS connection (for the KV map, and tests).
func (p *Publisher) Conn() *nats.Conn { return p.nc }

// Close stops publishing, flushes what the NATS client holds (for at
// most a second) and closes the connection. Notices still queued are
// dropped.
func (p *Publisher) Close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.wg.Wait()
		if p.nc.IsConnected() {
			_ = p.nc.FlushTimeout(time.Second)
		}
		p.nc.Close()
	})
}

// Dropped reasons (the "reason" label of dormouse_notice_dropped_total).
const (
	dropQueueFull    = "queue_full"
	dropDisconnected = "disconnected"
	dropInvalid      = "invalid"
	dropError        = "error"
)

// connected reports the connection state for the gauge.
type connState struct {
	nc atomic.Pointer[nats.Conn]
}

func (c *connState) connected() float64 {
	if nc := c.nc.Load(); nc != nil && nc.IsConnected() {
		return 1
	}
	return 0
}
