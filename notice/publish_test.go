package notice_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/notice"
	"github.com/dormouse/dormouse/notice/natstest"
)

// TestPublisherFailover publishes through a 3-node cluster to a
// subscriber on another node, kills the node the publisher is connected
// to, and checks that notices keep arriving through another node, after a
// resync message.
func TestPublisherFailover(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	m := notice.NewMetrics()
	p, err := notice.NewPublisher(notice.PublisherConfig{URLs: c.URLs(), Node: "b1", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitConnected(t, p.Conn())
	// The node the publisher is on, and another for the subscriber.
	on := -1
	for i, s := range c.Servers {
		if s.ClientURL() == p.Conn().ConnectedUrl() {
			on = i
		}
	}
	if on < 0 {
		t.Fatalf("publisher on %s, no node of the cluster", p.Conn().ConnectedUrl())
	}
	sub, err := nats.Connect(c.Servers[(on+1)%3].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan *nats.Msg, 100)
	for _, subj := range []string{notice.UserSubject("alice"), notice.ResyncSubject} {
		if _, err := sub.ChanSubscribe(subj, got); err != nil {
			t.Fatal(err)
		}
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	resync := ""
	// Route interest reaches node 1 asynchronously: publish until one
	// arrives.
	expect := func(modseq uint64) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			p.Publish(notice.Notice{User: "alice", Mailbox: "INBOX", Kind: notice.MessagesAdded, HighestModSeq: modseq})
			select {
			case msg := <-got:
				if msg.Subject == notice.ResyncSubject {
					resync = string(msg.Data)
					continue
				}
				var n notice.Notice
				if err := n.UnmarshalBinary(msg.Data); err != nil {
					t.Fatal(err)
				}
				if msg.Subject != notice.Subject("alice", "INBOX") || n.Node != "b1" || n.User != "alice" {
					t.Fatalf("got %s %+v", msg.Subject, n)
				}
				if n.HighestModSeq == modseq {
					return
				}
			case <-tick.C:
			case <-deadline:
				t.Fatalf("notice with modseq %d never arrived", modseq)
			}
		}
	}
	expect(1)
	if resync != "" {
		t.Fatalf("resync %q before any reconnect", resync)
	}
	killed := c.Servers[on].ClientURL()
	c.Kill(on)
	expect(2)
	// The resync goes out from the reconnect handler, beside the
	// notices: wait for it.
	deadline := time.After(30 * time.Second)
	for resync == "" {
		select {
		case msg := <-got:
			if msg.Subject == notice.ResyncSubject {
				resync = string(msg.Data)
			}
		case <-deadline:
			t.Fatal("no resync message after the reconnect")
		}
	}
	if resync != "b1" {
		t.Errorf("resync names %q, want b1", resync)
	}
	if u := p.Conn().ConnectedUrl(); u == killed || u == "" {
		t.Errorf("publisher on %q after its node %s was killed", u, killed)
	}
}

func waitConnected(t *testing.T, nc *nats.Conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("not connected to NATS after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublisherDropsWhileDisconnected publishes with no NATS server up:
// Publish never waits, the NATS client holds notices up to its bound, and
// the rest are dropped and counted as disconnected.
func TestPublisherDropsWhileDisconnected(t *testing.T) {
	m := notice.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	// A port nobody listens on: the connection is retried in the
	// background.
	p, err := notice.NewPublisher(notice.PublisherConfig{
		URLs: "nats://127.0.0.1:1", Node: "b1", Metrics: m, ReconnectBuffer: 4096, Queue: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const sent = 1000
	for i := range sent {
		p.Publish(notice.Notice{User: "alice", Mailbox: "INBOX", Kind: notice.MessagesAdded, UIDNext: uint32(i + 2)})
	}
	var published, dropped float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		published, dropped = counter(t, reg, "dormouse_notice_published_total"), counter(t, reg, "dormouse_notice_dropped_total")
		if published+dropped == sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// About 4096/60 notices fit the reconnect buffer; the rest, and what
	// the queue could not take while the goroutine worked, are dropped.
	if published+dropped != sent || published > 100 || dropped < sent-100 {
		t.Fatalf("published %v, dropped %v of %d", published, dropped, sent)
	}
	if v := counter(t, reg, "dormouse_notice_nats_connected"); v != 0 {
		t.Errorf("nats_connected %v", v)
	}
}

// counter sums the samples of one metric family in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			sum += mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	return sum
}
