package interop

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/dormouse/dormouse/internal/imapresp"
	"github.com/dormouse/dormouse/internal/testserver"
)

// imapMeter is a TCP proxy between an IMAP client and a server that counts
// what crosses it: connections, bytes each way, and the client's commands
// (named, with the server's tagged status), so that a test can tell what
// a client sent for one of its own operations without trusting the
// client's log. The bytes are forwarded untouched; both directions are
// also read with IMAP's framing (lines and literals, internal/imapresp) to
// tell commands and tagged responses apart.
type imapMeter struct {
	addr string // where clients connect

	mu    sync.Mutex
	open  int // connections not yet closed on both sides
	usage meterUsage
}

// meterUsage is what went through the meter between two calls of take.
type meterUsage struct {
	Conns       int
	ClientBytes int64 // client to server
	ServerBytes int64 // server to client
	Commands    []meteredCommand
}

// meteredCommand is one client command: its name (the words after the tag
// that name it: "UID SORT", "SELECT"), its text (the start of it, without
// an AUTHENTICATE's credentials) and the status of the server's tagged
// response ("" if none came).
type meteredCommand struct {
	tag, Name, Text, Status string
}

// startIMAPMeter listens on 127.0.0.1 and forwards each connection to
// upstream until the test ends.
func startIMAPMeter(t *testing.T, upstream string) *imapMeter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &imapMeter{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.mu.Lock()
			m.open++
			m.usage.Conns++
			m.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.relay(c, upstream)
			}()
		}
	}()
	return m
}

// relay forwards one connection both ways until both sides have closed,
// then adds what went through to the meter's usage. The end of one
// direction is passed on as a half-close, so that what the other side
// still sends is read and counted: a client that closes right after
// reading "* BYE" leaves the server's tagged OK to LOGOUT on its way.
func (m *imapMeter) relay(client net.Conn, upstream string) {
	var (
		up, down meterWriter
		cmds     []meteredCommand
		statuses = map[string]string{} // tag → status of the tagged response
	)
	defer func() {
		// Merged here, once both directions are read: a tagged response
		// may be parsed before its command is.
		for i := range cmds {
			cmds[i].Status = statuses[cmds[i].tag]
		}
		m.mu.Lock()
		m.usage.ClientBytes += up.n
		m.usage.ServerBytes += down.n
		m.usage.Commands = append(m.usage.Commands, cmds...)
		m.open--
		m.mu.Unlock()
	}()
	defer client.Close()
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	up.w, down.w = server, client
	done := make(chan struct{}, 2)
	go func() {
		cmds = readCommands(io.TeeReader(client, &up))
		server.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		readStatuses(io.TeeReader(server, &down), statuses)
		client.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// readCommands reads the client's side one command at a time (a command
// with literals is one) and returns them, named. A client that answers a
// server's continuation request other than for a literal (AUTHENTICATE
// without an initial response) would have its answer counted as a command:
// the clients metered here send SASL-IR.
func readCommands(r io.Reader) []meteredCommand {
	var cmds []meteredCommand
	br := bufio.NewReader(r)
	for {
		cmd, _, err := imapresp.ReadBounded(br, 200)
		if err != nil {
			io.Copy(io.Discard, br) // still forwarded, no longer parsed
			return cmds
		}
		f := strings.Fields(cmd)
		var mc meteredCommand
		if len(f) > 0 {
			mc.tag = f[0]
		}
		if len(f) > 1 {
			mc.Name = strings.ToUpper(f[1])
			if mc.Name == "UID" && len(f) > 2 {
				mc.Name += " " + strings.ToUpper(f[2])
			}
			mc.Text = strings.Join(f[1:], " ")
			if mc.Name == "AUTHENTICATE" || mc.Name == "LOGIN" {
				mc.Text = mc.Name + " ..."
			}
		}
		cmds = append(cmds, mc)
	}
}

// readStatuses reads the server's side one response at a time and records
// each tagged one's status by its tag.
func readStatuses(r io.Reader, statuses map[string]string) {
	br := bufio.NewReader(r)
	for {
		resp, _, err := imapresp.ReadBounded(br, 200)
		if err != nil {
			io.Copy(io.Discard, br) // still forwarded, no longer parsed
			return
		}
		f := strings.Fields(resp)
		if len(f) >= 2 && f[0] != "*" && f[0] != "+" {
			statuses[f[0]] = strings.ToUpper(f[1])
		}
	}
}

// take waits until every connection through the meter has closed (the
// client's operation is over: a web client such as Roundcube logs out at
// the end of each request) and returns what went through since the last
// take.
func (m *imapMeter) take(t *testing.T) meterUsage {
	t.Helper()
	testserver.WaitFor(t, "the metered IMAP connections to close", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.open == 0
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usage
	m.usage = meterUsage{}
	return u
}

// names returns the names of the commands, in order.
func (u meterUsage) names() []string {
	var out []string
	for _, c := range u.Commands {
		out = append(out, c.Name)
	}
	return out
}

// meterWriter forwards bytes to w and counts them. Bytes that can no
// longer be forwarded (the receiver has closed) are still counted and
// read, so that the sender's side is parsed to its end.
type meterWriter struct {
	w      io.Writer
	n      int64
	failed bool
}

func (w *meterWriter) Write(p []byte) (int, error) {
	if !w.failed {
		if _, err := w.w.Write(p); err != nil {
			w.failed = true
		}
	}
	w.n += int64(len(p))
	return len(p), nil
}
