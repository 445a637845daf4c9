package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dormouse/dormouse/notice"
)

// NATSNotices hears change notices on core NATS: one subscription per
// user with a session at the proxy (notice.UserSubject), every one
// delivering into one channel that one goroutine reads, so that a user
// costs a subscription and no goroutine. Core NATS is at most once: after
// a reconnect, or when the channel overflowed (a slow consumer), notices
// may be lost, and OnLost's function (Proxy.Resync) is called.
type NATSNotices struct {
	nc  *nats.Conn
	log *slog.Logger
	ch  chan *nats.Msg

	mu     sync.Mutex
	fn     func(notice.Notice)
	onLost func()

	stop, done chan struct{}
}

// noticeBuffer is how many notices may wait for the proxy's goroutine;
// past it NATS drops them and the proxy resynchronises.
const noticeBuffer = 1 << 16

// DialNATS connects to the NATS servers at urls (comma-separated),
// reconnecting for ever (notice.Connect), and hears the backends'
// resync messages (notice.ResyncSubject).
func DialNATS(urls string, log *slog.Logger) (*NATSNotices, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &NATSNotices{
		log:  log,
		ch:   make(chan *nats.Msg, noticeBuffer),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	nc, err := notice.Connect(urls, "dormouse proxy", log,
		nats.ReconnectHandler(func(*nats.Conn) {
			log.Info("nats reconnected: resynchronising sleepers")
			n.lost()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				log.Warn("notices dropped (slow consumer): resynchronising sleepers")
				n.lost()
				return
			}
			log.Warn("nats", "err", err)
		}),
	)
	if err != nil {
		return nil, err
	}
	n.nc = nc
	// A backend that reconnected may have lost notices on the way: its
	// users' sleepers are resumed as after our own reconnect.
	if _, err := nc.Subscribe(notice.ResyncSubject, func(m *nats.Msg) {
		log.Info("a backend reconnected to NATS: resynchronising sleepers", "node", string(m.Data))
		n.lost()
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe %s: %w", notice.ResyncSubject, err)
	}
	go n.deliver()
	return n, nil
}

// Conn returns the NATS connection (for the user map, route = "kv").
func (n *NATSNotices) Conn() *nats.Conn { return n.nc }

// OnLost sets what is called when notices may have been lost.
func (n *NATSNotices) OnLost(fn func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onLost = fn
}

func (n *NATSNotices) lost() {
	n.mu.Lock()
	fn := n.onLost
	n.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// HandleNotices sets the function called with every notice heard.
func (n *NATSNotices) HandleNotices(fn func(notice.Notice)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fn = fn
}

// SubscribeUser subscribes to user's notices and waits until the server
// has the interest (a flush). Without a connection the subscription is
// made when NATS comes back, and the reconnect resynchronises. The
// subscription is the only state a user costs here: its notices are
// told apart by their contents (notice.Notice.User), not by a map from
// subscriptions.
func (n *NATSNotices) SubscribeUser(user string) (Subscription, error) {
	sub, err := n.nc.ChanSubscribe(notice.UserSubject(user), n.ch)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", user, err)
	}
	// A slow consumer is the shared channel's overflow, which the
	// channel's size bounds; no per-subscription pending limit.
	sub.SetPendingLimits(-1, -1)
	if err := n.nc.FlushTimeout(5 * time.Second); err != nil {
		n.log.Warn("nats flush after subscribe", "user", user, "err", err)
	}
	return sub, nil
}

// deliver decodes the notices and hands each to the handler.
func (n *NATSNotices) deliver() {
	defer close(n.done)
	for {
		var m *nats.Msg
		select {
		case m = <-n.ch:
		case <-n.stop:
			return
		}
		var nt notice.Notice
		if err := nt.UnmarshalBinary(m.Data); err != nil {
			n.log.Warn("bad notice", "subject", m.Subject, "err", err)
			continue
		}
		n.mu.Lock()
		fn := n.fn
		n.mu.Unlock()
		if fn != nil {
			fn(nt)
		}
	}
}

// Close closes the NATS connection.
func (n *NATSNotices) Close() {
	n.nc.Close()
	close(n.stop)
	<-n.done
}
