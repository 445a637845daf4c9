package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// deliverLoop delivers a message to INBOX over LMTP every pause until ctx
// ends, recording each acknowledged one.
func deliverLoop(ctx context.Context, addr string, pause time.Duration, m *model, ops *counters, ids *atomic.Int64, crash *atomic.Bool) {
	for ctx.Err() == nil {
		id := fmt.Sprintf("lmtp-%d", ids.Add(1))
		if err := deliver(addr, id); err != nil {
			m.Uncertain([]string{id}, nil)
			if !crash.Load() {
				m.mu.Lock()
				m.violate("LMTP delivery failed without a fault: %v", err)
				m.mu.Unlock()
			}
			<-ctx.Done()
			return
		}
		m.Delivered(id)
		ops.add("LMTP")
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

func deliver(addr, id string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(opTimeout))
	c := smtp.NewClientLMTP(nc)
	defer c.Close()
	if err := c.Hello("torture.example.org"); err != nil {
		return err
	}
	return c.SendMail("mta@example.org", []string{user + "@example.org"}, strings.NewReader(messageText(id, 300)))
}
