package imapserver

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// A command that loops over messages or mailboxes (SEARCH, FETCH, LIST)
// asks interrupted between steps whether to go on. It stops when
//   - the connection's context ends: Shutdown's bound passed and
//     forceClose cancelled it; or
//   - the client has gone: the socket reports end of input or an error.
//
// The second is found by peeking at the socket (recv with MSG_PEEK and
// MSG_DONTWAIT, peer_unix.go) rather than by a background read as
// net/http does: a peek consumes nothing, so the bufio.Reader, a pipelined
// next command, TLS records and the descriptor an IDLE hands to the
// hibernator are untouched, no goroutine or read deadline is involved, and
// a command that reads from the client itself (IDLE, APPEND,
// AUTHENTICATE) is never raced. It looks below TLS, at the TCP socket: a
// TLS close_notify shows as pending bytes, which count as a live client,
// and its TCP FIN right after it is what ends the work. Bytes pending
// (a pipelined command) mean the client is still there; a FIN behind them
// is only seen once they are read, which bounded work allows.

// interruptEvery and interruptInterval bound how often interrupted peeks
// at the socket: every so many calls, or when so long passed since the
// last peek, whichever comes first. A peek is one system call.
const (
	interruptEvery    = 64
	interruptInterval = 10 * time.Millisecond
)

// errClientGone says the client closed the connection (or it broke) while
// a command was running. It wraps io.EOF: an ordinary end, logged as such.
var errClientGone = fmt.Errorf("client left during the command: %w", io.EOF)

// interruptState is what interrupted keeps between calls.
type interruptState struct {
	calls    uint32
	lastPeek time.Time
	gone     error // set once the client was found gone
}

// interrupted returns nil while the running command may go on, else a
// *byeError that ends the connection. Finding the client gone also cancels
// the connection's context, so that store calls in progress stop too.
func (c *conn) interrupted() error {
	st := &c.interrupt
	if st.gone != nil {
		return st.gone
	}
	if err := c.ctx.Err(); err != nil {
		st.gone = &byeError{text: "Server shutting down", err: errors.Join(errShutdown, err)}
		c.srv.cfg.Metrics.commandInterrupted(interruptShutdown)
		return st.gone
	}
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if h := c.srv.stepHook.Load(); h != nil {
		(*h)(nc)
	}
	st.calls++
	if st.calls%interruptEvery != 0 && time.Since(st.lastPeek) < interruptInterval {
		return nil
	}
	st.lastPeek = time.Now()
	if nc == nil || !peerClosed(nc) {
		return nil
	}
	c.cancel()
	st.gone = &byeError{text: "Connection closed", err: errClientGone}
	c.srv.cfg.Metrics.commandInterrupted(interruptClient)
	return st.gone
}

// interruptibleReaderAt stops reading a message when its command is
// interrupted (interrupted is conn.interrupted, or what a goroutine
// checking messages for the connection looks at instead), so that one
// big message does not keep a gone client's SEARCH running.
type interruptibleReaderAt struct {
	r           io.ReaderAt
	interrupted func() error
}

func (r interruptibleReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := r.interrupted(); err != nil {
		return 0, err
	}
	return r.r.ReadAt(p, off)
}
