package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// writeTimeout bounds how long one write to a client may block, so that a
// client that stops reading cannot pin a goroutine forever.
const writeTimeout = 5 * time.Minute

// connState is the RFC 9051 3 connection state.
type connState int

const (
	stateNotAuth connState = iota
	stateAuth
	stateSelected
	stateLogout
)

// conn is one client connection: the transport and its session.
type conn struct {
	srv *Server
	id  uint64
	// log carries conn, user and, while a mailbox is selected, mailbox;
	// logBase only conn and user.
	log, logBase *slog.Logger
	ctx          context.Context
	cancel       context.CancelFunc

	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	w   *imapwire.Writer
	dec *imapwire.Decoder
	tls bool
	// z is the compression layer after COMPRESS DEFLATE (compress.go).
	z *deflateStream

	session

	// okCode and okText override the tagged OK of the running command.
	okCode, okText string
	// interrupt is interrupted's state (interrupt.go).
	interrupt interruptState

	mu      sync.Mutex // guards waiting, idlePeek and nc against Shutdown
	waiting bool       // blocked reading the first byte of a command
	// idlePeek is set while an IDLE waits for the client's first byte
	// on the session goroutine (idleWaiting): a change to the mailbox
	// interrupts that read too.
	idlePeek bool
	// pushSelected is set while NOTIFY SELECTED has the selected
	// mailbox's changes pushed between commands too (notify.go); the
	// mailbox's watch reads it.
	pushSelected atomic.Bool
	// wokenQueue is the NOTIFY queue a sleeper kept, for the session
	// that wakes from it (restoreState).
	wokenQueue *notifyQueue

	// hibernated is set when the socket was handed to the hibernator:
	// the goroutine ends without closing it.
	hibernated bool
	// staysForHandover is set when a handover found the session quiet
	// but not exportable (moveBetween): it waits for commands as usual.
	staysForHandover bool
	// resumed is set on a session restored from hibernation until its
	// IDLE resumes (no second "+ idling").
	resumed bool
	// releaseWatch ends the hold a full wake keeps on the mailbox's
	// watch until restoreState has reopened it (hibernate_serve.go).
	releaseWatch func()

	// addrKey is the client's address as limits count it (guard.go);
	// preAuthHeld says this connection counts against it; loginDeadline
	// ends an unauthenticated connection (timeouts.go).
	addrKey string
	// userCounted is the user this connection is counted for in
	// srv.userConns (userlimits.go); "" when it is not.
	userCounted   string
	preAuthHeld   bool
	loginDeadline time.Time

	admin connAdmin // what `dormouse who` sees (admin.go)

	// proxied is set on a session a trusted proxy opened (XPROXY) or
	// resumed (XRESUME): it hands off to the proxy instead of sleeping
	// here (proxyhop.go).
	proxied bool
	// hopRead counts the bytes read from the socket since it was
	// accepted: what a handoff tells the proxy it consumed. Only the
	// goroutine reading the socket touches it.
	hopRead int64
}

func newConn(s *Server, nc net.Conn) *conn {
	id := s.nextConn.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:    s,
		id:     id,
		log:    s.log.With("conn", id),
		ctx:    ctx,
		cancel: cancel,
		tls:    isTLS(nc),
	}
	c.admin.since = time.Now()
	c.logBase = c.log
	c.setTransport(nc)
	return c
}

// setTransport (re)builds the buffered reader, writer and decoder on nc:
// at the start and after STARTTLS.
func (c *conn) setTransport(nc net.Conn) {
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	m := c.srv.cfg.Metrics
	c.setStreams(countingReader{nc, m, &c.hopRead}, countingWriter{nc, m})
}

// setStreams (re)builds the buffered reader, writer and decoder on r and
// w: the socket, or the compression layer above it.
func (c *conn) setStreams(r io.Reader, w io.Writer) {
	c.br = bufio.NewReader(r)
	c.bw = bufio.NewWriter(w)
	utf8 := c.w != nil && c.w.UTF8
	c.w = imapwire.NewWriter(c.bw)
	c.w.UTF8 = utf8
	c.dec = imapwire.NewDecoder(c.br, imapwire.DecoderOptions{
		MaxLine:    c.srv.limits.MaxLine,
		MaxLiteral: c.srv.limits.MaxLiteral,
		SpoolDir:   c.spoolDir(),
		SpoolAbove: spoolAbove,
		Continue: func(int64) error {
			c.w.Raw("+ Ready for literal data").CRLF()
			return c.flush()
		},
		Allow: c.allowCommand,
	})
	if utf8 {
		c.dec.SetUTF8(true)
	}
}

// maxPreAuthLiteral is the largest literal, synchronizing or not, accepted
// before authentication: then only LOGIN and AUTHENTICATE take literals,
// and they are short.
const maxPreAuthLiteral = 8 << 10

// limitLiterals sets the Decoder's literal limit for the connection's
// state, before each command: before login a larger literal is an attempt
// to make the server read or store data for nobody.
func (c *conn) limitLiterals() {
	if c.state == stateNotAuth {
		c.dec.SetLiteralLimit(maxPreAuthLiteral, "before authentication")
	} else {
		c.dec.SetLiteralLimit(0, "")
	}
}

// spoolDir is where large literals and assembled CATENATE messages are
// spooled.
func (c *conn) spoolDir() string {
	if c.srv.cfg.SpoolDir != "" {
		return c.srv.cfg.SpoolDir
	}
	return os.TempDir()
}

// spoolAbove is the literal size above which APPEND data goes to a file.
const spoolAbove = 1 << 20

type countingReader struct {
	r io.Reader
	m *Metrics
	// total, when set, counts the connection's bytes too (conn.hopRead).
	total *int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.read(n)
	if r.total != nil {
		*r.total += int64(n)
	}
	return n, err
}

type countingWriter struct {
	nc net.Conn
	m  *Metrics
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := w.nc.Write(p)
	w.m.wrote(n)
	return n, err
}

// flush sends the buffered responses, through the compressor's sync
// flush on a compressed connection.
func (c *conn) flush() error {
	if err := c.w.Flush(); err != nil || c.z == nil {
		return err
	}
	return c.z.Flush()
}

// errShutdown says the server is shutting down.
var errShutdown = errors.New("server shutting down")

func (c *conn) serve() { c.run(nil) }

// run serves the connection: from its greeting, or, with st, from a
// session restored from hibernation in the middle of its IDLE.
func (c *conn) run(st *hibernate.State) {
	m := c.srv.cfg.Metrics
	m.connState("active", 1)
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic", "err", fmt.Sprint(v))
			c.w.Raw("* BYE [SERVERBUG] Internal error").CRLF()
			c.flush()
		}
		c.leavePreAuth()
		c.uncountUser()
		c.closeSession()
		c.cancel()
		if !c.hibernated {
			c.lingeringClose()
		}
		m.connState("active", -1)
		c.srv.removeConn(c)
		c.log.Debug("closed")
	}()
	if st != nil {
		if !c.resume(st) {
			return
		}
	} else if !c.greet() {
		return
	}
	c.loop()
}

// greet runs the TLS handshake where there is one and says hello; false
// ends the connection.
func (c *conn) greet() bool {
	c.log.Debug("accepted", "remote", c.nc.RemoteAddr().String(), "tls", c.tls)
	if !c.admit() {
		return false
	}

	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.tlsHandshake(tc); err != nil {
			c.log.Debug("tls handshake", "err", err)
			return false
		}
	}
	c.w.Raw("* OK [CAPABILITY ").Raw(c.capabilities()).Raw("] Dormouse ready").CRLF()
	return c.flush() == nil
}

// loop reads and runs commands until the connection ends.
func (c *conn) loop() {
	for {
		if err := c.waitForCommand(); err != nil {
			if err != errHibernated {
				c.readFailed(err)
			}
			return
		}
		c.limitLiterals()
		cmd, err := c.dec.ReadCommand()
		if err != nil {
			var ce *imapwire.CommandError
			if errors.As(err, &ce) {
				c.commandError(ce)
				if ce.Fatal {
					// The client is sending bytes the server will
					// not read.
					c.bye("Literal too large; closing")
					return
				}
				if c.w.Err() != nil {
					return
				}
				continue
			}
			c.commandReadFailed(err)
			return
		}
		if !c.exec(cmd) {
			return
		}
	}
}

// waitForCommand blocks until the first byte of a command arrives, with the
// login or idle timeout. Only while it waits may Shutdown interrupt the
// read: a command that has started is read and run to its end. A logged-in
// session that has waited HibernateAfter with nothing buffered hibernates
// here, quiet between commands (errHibernated).
func (c *conn) waitForCommand() error {
	if c.br.Buffered() == 0 {
		if err := c.flush(); err != nil {
			return err
		}
	}
	waiting := time.Now()
	deadline := c.waitDeadline(waiting)
	hibernateAt := c.quietHibernateAt(waiting)
	for {
		c.mu.Lock()
		if c.srv.closing.Load() {
			c.mu.Unlock()
			return errShutdown
		}
		d := deadline
		if !hibernateAt.IsZero() && hibernateAt.Before(d) {
			d = hibernateAt
		}
		// During a handover a quiet session moves now: it sleeps between
		// commands, which passes it on (hibernator.sleep); checked under
		// c.mu, as Handover's interrupt is sent.
		move := c.srv.hib != nil && c.srv.handing.Load() && !c.staysForHandover
		if move {
			d = time.Unix(1, 0)
		}
		if c.pushDue() {
			// An event came before waiting was set: its interrupt
			// (interruptForPush) found nothing to interrupt.
			d = time.Unix(1, 0)
		}
		c.nc.SetReadDeadline(d)
		c.waiting = true
		c.mu.Unlock()

		_, err := c.br.Peek(1)

		c.mu.Lock()
		c.waiting = false
		closing := c.srv.closing.Load()
		c.mu.Unlock()
		if closing {
			return errShutdown
		}
		quietTimeout := err != nil && c.br.Buffered() == 0 && isTimeout(err)
		if quietTimeout && c.pushDue() {
			// NOTIFY pushes outside IDLE too (RFC 5465 1).
			if err := c.push(); err != nil {
				return err
			}
			continue
		}
		if quietTimeout && c.srv.hib != nil && c.srv.handing.Load() && !c.staysForHandover {
			if c.sleepQuiet(waiting) {
				return errHibernated
			}
			c.staysForHandover = true // not logged in: it stays
			continue
		}
		if quietTimeout && !hibernateAt.IsZero() && !time.Now().Before(hibernateAt) {
			hibernateAt = time.Time{} // one try per wait
			if c.sleepQuiet(waiting) {
				return errHibernated
			}
			continue
		}
		if quietTimeout && time.Now().Before(deadline) {
			// An interrupt whose cause is gone: a change's, which
			// came after the push that took the change (the watch
			// signals, then interrupts), or a handover's that ended.
			// Only the idle or login timeout logs out (RFC 9051 5.4).
			continue
		}
		if err != nil {
			return err
		}
		c.nc.SetReadDeadline(c.commandDeadline(time.Now()))
		return nil
	}
}

// quietHibernateAt is when a session that began to wait for a command at
// now hibernates if no byte comes: HibernateAfter later for a logged-in
// session of a server that hibernates, with nothing buffered either way;
// zero for never.
func (c *conn) quietHibernateAt(now time.Time) time.Time {
	if c.srv.hib == nil || (c.state != stateAuth && c.state != stateSelected) || c.br.Buffered() > 0 {
		return time.Time{}
	}
	return now.Add(c.srv.cfg.HibernateAfter)
}

// sleepQuiet hibernates a session that has waited for a command since
// waiting; false when it stays active (the reason is counted).
func (c *conn) sleepQuiet(waiting time.Time) bool {
	st, err := c.exportState("")
	if err == nil {
		err = c.hibernate(st, waiting)
	}
	if err != nil {
		c.refuseHibernation(err)
		return false
	}
	return true
}

// isTimeout reports whether err is a read deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lingeringClose closes the connection after giving the client a moment to
// read our last responses: closing a TCP socket with unread input sends a
// reset, which can destroy responses the client has not read yet (the
// problem net/http's closeWrite solves the same way).
func (c *conn) lingeringClose() {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := nc.(closeWriter); ok && cw.CloseWrite() == nil {
		nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		io.CopyN(io.Discard, nc, 1<<16)
	}
	c.mu.Lock()
	nc.Close()
	c.mu.Unlock()
}

// lingerTimeout bounds lingeringClose.
const lingerTimeout = 200 * time.Millisecond

// interruptIfWaiting wakes a connection blocked between commands or in an
// IDLE's first read, for Shutdown.
func (c *conn) interruptIfWaiting() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.waiting || c.idlePeek) && c.nc != nil {
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// interruptIdlePeek wakes an IDLE waiting for the client's first byte on
// the session goroutine, to push a change.
func (c *conn) interruptIdlePeek() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.idlePeek || c.waiting && c.pushSelected.Load()) && c.nc != nil {
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// forceClose closes the socket under a running command.
func (c *conn) forceClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	if c.nc != nil { // nil once a TLS session hibernated
		c.nc.Close()
	}
}

// readFailed ends the connection after a read error, saying BYE where the
// client can still hear it.
func (c *conn) readFailed(err error) {
	var ne net.Error
	var be *byeError
	switch {
	case errors.As(err, &be):
		// A push between commands failed (NOTIFY).
		c.log.Debug("closing", "err", be.err)
		c.bye(be.text)
	case errors.Is(err, errShutdown):
		c.bye("Server shutting down")
	case errors.As(err, &ne) && ne.Timeout():
		// RFC 9051 5.4: autologout after inactivity.
		c.bye(byeAutologout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		// The client is gone: nobody to say BYE to.
	default:
		c.log.Debug("read", "err", err)
		c.bye("Connection error")
	}
}

func (c *conn) bye(text string) {
	c.mu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.mu.Unlock()
	c.w.Raw("* BYE ").Raw(text).CRLF()
	c.flush()
}

// commandError answers a command the Decoder refused.
func (c *conn) commandError(ce *imapwire.CommandError) {
	tag := ce.Tag
	if tag == "" {
		tag = "*"
	}
	typ := "BAD"
	if ce.NO {
		typ = "NO"
	}
	code, msg := ce.Code, ce.Msg
	if ce.Err != nil && mailstore.IsNoSpace(ce.Err) {
		// A spooled literal did not fit on the disk: the words of
		// storeError for the same failure.
		code, msg = "OVERQUOTA", "No space left"
		c.srv.cfg.Metrics.diskFull()
	}
	c.w.Raw(tag).SP().Raw(typ).SP()
	if code != "" {
		c.w.Raw("[").Raw(code).Raw("] ")
	}
	c.w.Raw(textLine(msg)).CRLF()
	c.srv.cfg.Metrics.command("invalid", strings.ToLower(typ))
	c.log.Debug("command refused", "tag", ce.Tag, "err", ce)
}

// textLine makes s safe as resp-text: one line, never empty.
func textLine(s string) string {
	if s == "" {
		return "Error"
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
				return ' '
			}
			return r
		}, s)
	}
	return s
}

// respError is a tagged NO or BAD.
type respError struct {
	bad  bool
	code string // response code without brackets
	text string
	err  error // cause, logged
}

func (e *respError) Error() string {
	if e.err != nil {
		return e.text + ": " + e.err.Error()
	}
	return e.text
}

func (e *respError) Unwrap() error { return e.err }

func errNO(code, text string) error  { return &respError{code: code, text: text} }
func errBAD(code, text string) error { return &respError{bad: true, code: code, text: text} }

// byeError ends the connection with "* BYE text" after the command.
type byeError struct {
	text string
	err  error
}

func (e *byeError) Error() string { return e.text + ": " + fmt.Sprint(e.err) }
func (e *byeError) Unwrap() error { return e.err }

// storeError maps a mailstore error to a tagged NO with the RFC 5530
// response code that says what went wrong.
func storeError(err error) error {
	var re *respError
	var be *byeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re), errors.As(err, &be):
		return err
	case errors.Is(err, mailstore.ErrNoMailbox):
		return &respError{code: "NONEXISTENT", text: "No such mailbox", err: err}
	case errors.Is(err, mailstore.ErrMailboxExists):
		return &respError{code: "ALREADYEXISTS", text: "Mailbox already exists", err: err}
	case errors.Is(err, mailstore.ErrBadName):
		return &respError{code: "CANNOT", text: "Invalid mailbox name", err: err}
	case errors.Is(err, mailstore.ErrNotAllowed):
		return &respError{code: "CANNOT", text: "Operation not permitted", err: err}
	case errors.Is(err, mailstore.ErrHasChildren):
		return &respError{code: "CANNOT", text: "Mailbox has children", err: err}
	case errors.Is(err, mailstore.ErrNoMessage):
		return &respError{code: "EXPUNGEISSUED", text: "Some messages were expunged", err: err}
	case errors.Is(err, mailstore.ErrOverQuota):
		return &respError{code: "OVERQUOTA", text: "Quota exceeded", err: err}
	case errors.Is(err, mailstore.ErrNoSpace):
		return &respError{code: "OVERQUOTA", text: "No space left", err: err}
	case errors.Is(err, mailstore.ErrTooBig):
		return &respError{code: "TOOBIG", text: "Message too big", err: err}
	case errors.Is(err, mailstore.ErrUIDValidity):
		return &byeError{text: "Mailbox UIDVALIDITY changed, reselect", err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &respError{code: "UNAVAILABLE", text: "Operation interrupted", err: err}
	}
	return &respError{code: "SERVERBUG", text: "Internal error", err: err}
}

// tryCreate turns NONEXISTENT into TRYCREATE, for APPEND, COPY and MOVE
// (RFC 9051 6.3.12, 6.4.7).
func tryCreate(err error) error {
	err = storeError(err)
	var re *respError
	if errors.As(err, &re) && re.code == "NONEXISTENT" {
		re.code = "TRYCREATE"
	}
	return err
}

// exec runs one command and writes its tagged response; false ends the
// connection.
func (c *conn) exec(cmd *imapwire.Command) bool {
	start := time.Now()
	c.okCode, c.okText = "", ""
	spec, known := c.command(cmd.Name)
	bodies := fetchesBodies(cmd)
	var uidNext uint32 // the view's before a FETCH of bodies
	if bodies && c.sel != nil {
		uidNext = c.sel.view.UIDNext
	}
	var err error
	switch {
	case !known:
		err = errBAD("", "Unknown command")
	default:
		err = c.stateRefusal(cmd.Name)
		if err == nil {
			err = c.catchUp(cmd)
		}
		if err == nil {
			err = spec.fn(c, cmd)
		}
	}
	defer releaseLiterals(cmd)

	if err == errHibernated {
		// The IDLE goes on while the connection sleeps; its tagged OK
		// comes from the session that wakes.
		return false
	}
	if err == errTaggedDone {
		c.srv.cfg.Metrics.command(cmd.Name, "ok")
		c.log.Debug("command", "cmd", cmd.Name, "tag", cmd.Tag, "result", "ok", "dur", time.Since(start))
		return c.w.Err() == nil
	}
	var be *byeError
	if errors.As(err, &be) {
		level := slog.LevelWarn
		if errors.Is(be.err, errShutdown) || errors.Is(be.err, io.EOF) || errors.Is(be.err, net.ErrClosed) {
			level = slog.LevelDebug // an ordinary end, not a problem
		}
		c.log.Log(c.ctx, level, "closing", "cmd", cmd.Name, "tag", cmd.Tag, "err", be.err)
		c.bye(be.text)
		return false
	}
	if c.state == stateLogout {
		// LOGOUT wrote its BYE; pipelined commands after it are ignored.
		c.w.Raw(cmd.Tag).Raw(" OK LOGOUT completed").CRLF()
		c.flush()
		c.srv.cfg.Metrics.command(cmd.Name, "ok")
		return false
	}
	if spec.updates && !isBad(err) {
		if uerr := c.sendUpdates(allowExpunge(cmd)); uerr != nil {
			if errors.As(uerr, &be) {
				c.log.Warn("closing", "cmd", cmd.Name, "err", be.err)
				c.bye(be.text)
				return false
			}
			c.log.Error("updates", "cmd", cmd.Name, "err", uerr)
		}
		if !allowExpunge(cmd) {
			c.tellHeldBack(err == nil)
		}
	}
	if bodies && c.sel != nil && c.sel.view.UIDNext != uidNext {
		// An EXISTS went out where the client may ignore it: the next
		// IDLE says the count again (reannounce.go).
		c.sel.view.ExistsUnheard = true
	}
	// NOTIFY's events of other mailboxes, before the tagged response
	// (any command may carry them, RFC 5465 1).
	c.sendNotify()

	result := "ok"
	if err != nil {
		var re *respError
		if !errors.As(storeError(err), &re) {
			re = &respError{code: "SERVERBUG", text: "Internal error", err: err}
		}
		if mailstore.IsNoSpace(err) {
			c.srv.cfg.Metrics.diskFull()
		}
		result = "no"
		typ := "NO"
		if re.bad {
			result, typ = "bad", "BAD"
		}
		c.w.Raw(cmd.Tag).SP().Raw(typ).SP()
		if re.code != "" {
			c.w.Raw("[").Raw(re.code).Raw("] ")
		}
		c.w.Raw(textLine(re.text)).CRLF()
		// A refusal by a limit (UNAVAILABLE without a cause) was logged
		// where it was decided, at its own level.
		if re.code == "SERVERBUG" || (re.code == "UNAVAILABLE" && re.err != nil) {
			c.log.Error("command failed", "cmd", cmd.Name, "tag", cmd.Tag, "err", err, "dur", time.Since(start))
		} else {
			c.log.Debug("command", "cmd", cmd.Name, "tag", cmd.Tag, "result", result, "err", err, "dur", time.Since(start))
		}
	} else {
		c.w.Raw(cmd.Tag).Raw(" OK ")
		if c.okCode != "" {
			c.w.Raw("[").Raw(c.okCode).Raw("] ")
		}
		if c.okText != "" {
			c.w.Raw(c.okText)
		} else {
			if cmd.UID {
				c.w.Raw("UID ")
			}
			c.w.Raw(cmd.Name).Raw(" completed")
		}
		c.w.CRLF()
		c.log.Debug("command", "cmd", cmd.Name, "tag", cmd.Tag, "result", result, "dur", time.Since(start))
	}
	name := cmd.Name
	if !known {
		name = "unknown"
	}
	c.srv.cfg.Metrics.command(name, result)
	if c.w.Err() != nil {
		return false
	}
	// Flush only when no pipelined command is waiting: one write for a
	// batch of responses.
	if c.br.Buffered() == 0 {
		return c.flush() == nil
	}
	return true
}

func isBad(err error) bool {
	var re *respError
	return errors.As(err, &re) && re.bad
}

// releaseLiterals removes spooled APPEND and REPLACE literals.
func releaseLiterals(cmd *imapwire.Command) {
	if a, ok := cmd.Args.(interface{ Close() }); ok {
		a.Close()
	}
}

// stateRefusal refuses a command that the connection's state does not
// allow; nil for an allowed or unknown one. The Decoder asks it before
// reading a command's arguments (so nothing of a refused APPEND is read or
// spooled) and exec again before running one.
func (c *conn) stateRefusal(name string) error {
	spec, known := c.command(name)
	if !known && isHopCommand(name) {
		// Without a proxy secret the hop's commands are refused as the
		// Decoder refuses any unknown command, before their arguments.
		return errBAD("", fmt.Sprintf("unknown command %q", name))
	}
	if known && !spec.states.allows(c.state) {
		return errBAD("", c.stateError(name))
	}
	return nil
}

// allowCommand is the Decoder's Allow: stateRefusal, and an XRESUME that
// may run here may bring a state blob larger than other literals before
// authentication.
func (c *conn) allowCommand(name string) error {
	if err := c.stateRefusal(name); err != nil {
		return err
	}
	if name == "XRESUME" {
		c.dec.SetLiteralLimit(hibernate.MaxBlob, "for a state blob")
	}
	return nil
}

func (c *conn) stateError(name string) string {
	switch c.state {
	case stateNotAuth:
		return name + " not allowed before authentication"
	case stateAuth:
		if loginCommand(name) {
			return "Already authenticated"
		}
		return name + " not allowed: no mailbox selected"
	case stateSelected:
		if loginCommand(name) {
			return "Already authenticated"
		}
	}
	return name + " not allowed now"
}

// loginCommand reports whether name is one of the commands that log in
// (or prepare to), refused once logged in.
func loginCommand(name string) bool {
	switch name {
	case "LOGIN", "AUTHENTICATE", "STARTTLS", "XPROXY", "XRESUME":
		return true
	}
	return false
}

// allowExpunge says whether EXPUNGE responses may follow cmd: never after
// FETCH, STORE, SEARCH, SORT or THREAD by sequence number, whose client
// may still be using the numbers it gave or got (RFC 9051 7.5.1).
func allowExpunge(cmd *imapwire.Command) bool {
	if cmd.UID {
		return true
	}
	switch cmd.Name {
	case "FETCH", "STORE", "SEARCH", "SORT", "THREAD":
		return false
	}
	return true
}
